// Apache-2.0. Writes a PKCS12 trust store holding every certificate of a PEM bundle, so that Maven
// (Java) trusts the same CAs as the host (a TLS-intercepting proxy, an internal mirror's CA).
// Run with the JDK's single-file launcher: java TrustStore.java BUNDLE.pem OUT.p12 PASSWORD
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;

public class TrustStore {
    public static void main(String[] args) throws Exception {
        KeyStore store = KeyStore.getInstance("PKCS12");
        store.load(null, null);
        int n = 0;
        try (FileInputStream in = new FileInputStream(args[0])) {
            for (Certificate cert : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                store.setCertificateEntry("ca-" + n++, cert);
            }
        }
        if (n == 0) {
            System.err.println("wharf-build error: CA bundle " + args[0] + " holds no PEM certificate");
            System.exit(1);
        }
        try (FileOutputStream out = new FileOutputStream(args[1])) {
            store.store(out, args[2].toCharArray());
        }
        System.out.println("trust store " + args[1] + ": " + n + " certificates from " + args[0]);
    }
}
