package io.seldon.wrapper;

import io.seldon.wrapper.api.SeldonPredictionService;
import io.seldon.wrapper.config.AppConfig;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import org.springframework.boot.SpringApplication;

/**
 * Starts a model project written for upstream's Java wrapper:
 * {@code java -cp app.jar:lib/* io.seldon.wrapper.Launcher [--scan PATH] [--check SERVICE_TYPE] [spring args]}.
 *
 * <p>Upstream ran the project's own {@code @SpringBootApplication} class ({@code java -jar app.jar});
 * such a class is found in the project's classes ({@code --scan}, default the first class path entry)
 * and run as it is, so its scanning, imports and properties apply as they did. A project with no such
 * class but one {@code @Component} handler gets a context of that handler alone. Candidates are found
 * by the annotation's name in the class file bytes, so no class is loaded (or initialized) to look.
 *
 * <p>{@code --check SERVICE_TYPE} (the builder's check) prints the class that would run and fails
 * with {@code wharf-build error:} lines when there is none, or several.
 */
public final class Launcher {
    static final String BOOT_APP = "Lorg/springframework/boot/autoconfigure/SpringBootApplication;";
    static final String COMPONENT = "Lorg/springframework/stereotype/Component;";
    static final String SERVICE = "io/seldon/wrapper/api/SeldonPredictionService";
    static final Map<String, String> REQUIRED = Map.of("MODEL", "predict", "ROUTER", "route",
            "TRANSFORMER", "transformInput", "OUTPUT_TRANSFORMER", "transformOutput", "COMBINER", "aggregate");
    /** Dependencies a fat jar may hold, not read there (speed only); a directory holds only the project's. */
    private static final List<String> OWN = List.of("io/seldon/protos/", "io/wharf/", "io/grpc/", "io/netty/",
            "com/google/", "com/fasterxml/", "io/prometheus/", "org/springframework/", "org/slf4j/", "META-INF/");

    /** This layer's own classes, which a fat jar holds too (the Launcher names the annotation it looks for). */
    private static final Set<String> LAYER = Set.of("io/seldon/wrapper/Launcher.class", "io/seldon/wrapper/Launcher$Found.class",
            "io/seldon/wrapper/SeldonServing.class", "io/seldon/wrapper/PredictionServiceComponent.class",
            "io/seldon/wrapper/config/AppConfig.class", "io/seldon/wrapper/api/SeldonPredictionService.class",
            "io/seldon/wrapper/pb/ProtoBufUtils.class");

    private Launcher() {}

    /** What the project holds: its Spring Boot application classes and its {@code @Component} handlers. */
    record Found(List<String> apps, List<String> handlers) {}

    public static void main(String[] args) throws Exception {
        List<String> rest = new ArrayList<>(Arrays.asList(args));
        Path scan = Path.of(System.getProperty("java.class.path").split(java.io.File.pathSeparator)[0]);
        String check = null;
        for (int i = 0; i < rest.size(); ) {
            switch (rest.get(i)) {
                case "--scan" -> { rest.remove(i); scan = Path.of(rest.remove(i)); }
                case "--check" -> { rest.remove(i); check = rest.remove(i); }
                default -> i++;
            }
        }
        Found found = find(scan);
        if (check != null) {
            List<String> problems = problems(found, check, scan);
            problems.forEach(p -> System.err.println("wharf-build error: " + p));
            if (!problems.isEmpty()) {
                System.exit(1);
            }
            System.out.println("upstream-style project: " + describe(found));
            return;
        }
        List<String> problems = problems(found, null, scan);
        if (!problems.isEmpty()) {
            problems.forEach(System.err::println);
            System.exit(1);
        }
        String[] springArgs = rest.toArray(String[]::new);
        Class<?> main = Class.forName(found.apps().isEmpty() ? found.handlers().get(0) : found.apps().get(0));
        SpringApplication app = found.apps().isEmpty() ? new SpringApplication(main, AppConfig.class) : new SpringApplication(main);
        app.setMainApplicationClass(main); // the logs name the project's class, as upstream's did
        app.run(springArgs);
    }

    static String describe(Found found) {
        return found.apps().isEmpty() ? "@Component handler " + found.handlers().get(0)
                : "Spring Boot application " + found.apps().get(0) + (found.handlers().isEmpty() ? ""
                : ", handler " + String.join(", ", found.handlers()));
    }

    static List<String> problems(Found found, String serviceType, Path scan) {
        List<String> out = new ArrayList<>();
        if (found.apps().size() > 1) {
            out.add(scan + ": several @SpringBootApplication classes (" + String.join(", ", found.apps())
                    + "): keep one, or set MODEL_NAME to serve a Wharf SeldonComponent instead");
        } else if (found.apps().isEmpty() && found.handlers().size() != 1) {
            out.add(scan + (found.handlers().isEmpty()
                    ? ": no @SpringBootApplication class and no @Component class implementing " + SERVICE.replace('/', '.')
                      + " (or set MODEL_NAME to a class implementing io.wharf.wrapper.SeldonComponent)"
                    : ": several @Component handlers (" + String.join(", ", found.handlers()) + ") and no "
                      + "@SpringBootApplication class to choose: keep one handler per component image"));
        }
        String needed = serviceType == null ? null : REQUIRED.get(serviceType);
        if (out.isEmpty() && needed != null && !found.handlers().isEmpty()) {
            boolean any = false;
            for (String handler : found.handlers()) {
                any |= declares(handler, needed);
            }
            if (!any) {
                out.add("SERVICE_TYPE=" + serviceType + " needs the method " + needed + "(...) of SeldonPredictionService, and "
                        + String.join(", ", found.handlers()) + " does not override it");
            }
        }
        return out;
    }

    private static boolean declares(String className, String method) {
        try {
            for (Class<?> c = Class.forName(className, false, Launcher.class.getClassLoader());
                 c != null && c != Object.class; c = c.getSuperclass()) {
                for (var m : c.getDeclaredMethods()) {
                    if (m.getName().equals(method)) {
                        return true;
                    }
                }
            }
        } catch (ClassNotFoundException | LinkageError exc) {
            return false;
        }
        return false;
    }

    /** The project's classes under {@code root} (a directory of classes or a jar). */
    static Found find(Path root) throws IOException {
        List<String> apps = new ArrayList<>();
        List<String> handlers = new ArrayList<>();
        if (Files.isDirectory(root)) {
            try (Stream<Path> files = Files.walk(root)) {
                for (Path p : files.filter(f -> f.toString().endsWith(".class")).sorted().toList()) {
                    String name = root.relativize(p).toString().replace(java.io.File.separatorChar, '/');
                    classify(name, Files.readAllBytes(p), apps, handlers);
                }
            }
        } else {
            try (ZipFile jar = new ZipFile(root.toFile())) {
                for (ZipEntry e : jar.stream().sorted((a, b) -> a.getName().compareTo(b.getName())).toList()) {
                    if (e.getName().endsWith(".class") && OWN.stream().noneMatch(e.getName()::startsWith)
                            && !LAYER.contains(e.getName())) {
                        try (InputStream in = jar.getInputStream(e)) {
                            classify(e.getName(), in.readAllBytes(), apps, handlers);
                        }
                    }
                }
            }
        }
        return new Found(apps, handlers);
    }

    private static void classify(String entry, byte[] bytes, List<String> apps, List<String> handlers) {
        // Class file constants are modified UTF-8, which is ASCII for these names.
        String text = new String(bytes, StandardCharsets.ISO_8859_1);
        String name = entry.substring(0, entry.length() - ".class".length()).replace('/', '.');
        if (text.contains(BOOT_APP)) {
            apps.add(name);
        } else if (text.contains(COMPONENT) && text.contains(SERVICE) && implementsService(name)) {
            handlers.add(name);
        }
    }

    private static boolean implementsService(String name) {
        try {
            return SeldonPredictionService.class.isAssignableFrom(Class.forName(name, false, Launcher.class.getClassLoader()));
        } catch (ClassNotFoundException | LinkageError exc) {
            return false;
        }
    }
}
