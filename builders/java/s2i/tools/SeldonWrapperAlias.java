// Apache-2.0. For a model project written for Seldon Core's Java wrapper: finds the versions of
// io.seldon.wrapper:seldon-core-wrapper its pom.xml asks for and writes, for each, a relocation pom
// into the build's local Maven repository pointing at Wharf's compatibility artifact (same API,
// Apache-2.0). Maven then resolves the project's dependency to Wharf's jar and its dependencies. The
// relocation exists only in this build's repository: nothing is published under upstream's coordinate.
// Run with the JDK's single-file launcher:
//   java SeldonWrapperAlias.java POM LOCAL_REPO TARGET_GROUP:TARGET_ARTIFACT:TARGET_VERSION
// Prints one line per version; no line when the pom does not use the upstream wrapper; exit 1 with
// "wharf-build error:" lines when a version cannot be read.
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.xml.parsers.DocumentBuilderFactory;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.Node;
import org.w3c.dom.NodeList;

public class SeldonWrapperAlias {
    static final String GROUP = "io.seldon.wrapper";
    static final String ARTIFACT = "seldon-core-wrapper";
    static final Pattern PROPERTY = Pattern.compile("\\$\\{([^}]+)}");

    public static void main(String[] args) throws Exception {
        File pom = new File(args[0]);
        Path repo = Path.of(args[1]);
        String[] target = args[2].split(":");
        DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
        factory.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
        Document doc = factory.newDocumentBuilder().parse(pom);
        Element project = doc.getDocumentElement();
        Set<String> versions = new LinkedHashSet<>();
        List<String> problems = new ArrayList<>();
        NodeList deps = doc.getElementsByTagName("dependency");
        for (int i = 0; i < deps.getLength(); i++) {
            Element dep = (Element) deps.item(i);
            if (!GROUP.equals(child(dep, "groupId")) || !ARTIFACT.equals(child(dep, "artifactId"))) {
                continue;
            }
            String version = child(dep, "version");
            if (version == null) {
                problems.add(pom + ": the " + GROUP + ":" + ARTIFACT + " dependency has no <version>: give one "
                        + "(any: Wharf's compatibility layer stands in for every version)");
                continue;
            }
            String resolved = resolve(version, project);
            if (resolved.contains("${")) {
                problems.add(pom + ": the " + GROUP + ":" + ARTIFACT + " version " + version + " names a property "
                        + "this pom does not define: write the version, or define the property in <properties>");
            } else {
                versions.add(resolved);
            }
        }
        if (!problems.isEmpty()) {
            problems.forEach(p -> System.err.println("wharf-build error: " + p));
            System.exit(1);
        }
        for (String version : versions) {
            Path dir = repo.resolve(GROUP.replace('.', '/')).resolve(ARTIFACT).resolve(version);
            Files.createDirectories(dir);
            Files.writeString(dir.resolve(ARTIFACT + "-" + version + ".pom"), relocation(version, target), StandardCharsets.UTF_8);
            System.out.println(GROUP + ":" + ARTIFACT + ":" + version + " -> " + String.join(":", target)
                    + " (Wharf's compatibility layer, by Maven relocation in this build's local repository)");
        }
    }

    static String relocation(String version, String[] target) {
        return "<project xmlns=\"http://maven.apache.org/POM/4.0.0\">\n"
                + "  <!-- Written by the Wharf Java builder for this build only. -->\n"
                + "  <modelVersion>4.0.0</modelVersion>\n"
                + "  <groupId>" + GROUP + "</groupId>\n"
                + "  <artifactId>" + ARTIFACT + "</artifactId>\n"
                + "  <version>" + version + "</version>\n"
                + "  <distributionManagement>\n"
                + "    <relocation>\n"
                + "      <groupId>" + target[0] + "</groupId>\n"
                + "      <artifactId>" + target[1] + "</artifactId>\n"
                + "      <version>" + target[2] + "</version>\n"
                + "      <message>served by Wharf's Seldon compatibility layer (same API, Apache-2.0)</message>\n"
                + "    </relocation>\n"
                + "  </distributionManagement>\n"
                + "</project>\n";
    }

    static String child(Element parent, String name) {
        for (Node n = parent.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (n instanceof Element e && e.getTagName().equals(name)) {
                return e.getTextContent().trim();
            }
        }
        return null;
    }

    /** ${project.version} and ${name} from the pom's own <properties>, a few rounds deep. */
    static String resolve(String value, Element project) {
        Element props = null;
        for (Node n = project.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (n instanceof Element e && e.getTagName().equals("properties")) {
                props = e;
            }
        }
        for (int round = 0; round < 5 && value.contains("${"); round++) {
            Matcher m = PROPERTY.matcher(value);
            StringBuilder out = new StringBuilder();
            while (m.find()) {
                String key = m.group(1);
                String v = key.equals("project.version") ? child(project, "version") : props == null ? null : child(props, key);
                m.appendReplacement(out, Matcher.quoteReplacement(v == null ? m.group() : v));
            }
            m.appendTail(out);
            value = out.toString();
        }
        return value;
    }
}
