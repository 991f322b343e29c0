package io.wharf.wrapper;

import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.List;
import java.util.Map;

/**
 * Build-time check of a component class ({@code java -cp ... io.wharf.wrapper.Check CLASS SERVICE_TYPE}):
 * it exists, implements {@link SeldonComponent}, can be constructed, and overrides the method its
 * SERVICE_TYPE needs. Prints one {@code wharf-build error:} line per problem and exits 1.
 */
public final class Check {
    static final Map<String, String> REQUIRED = Map.of(
            "MODEL", "predict", "ROUTER", "route", "TRANSFORMER", "transformInput",
            "OUTPUT_TRANSFORMER", "transformOutput", "COMBINER", "aggregate");

    private Check() {}

    /** The problems with {@code className} as a {@code serviceType}; empty when it is fine. */
    public static List<String> problems(String className, String serviceType) {
        Class<?> cls;
        try {
            cls = Class.forName(className, false, Check.class.getClassLoader());
        } catch (ClassNotFoundException | LinkageError exc) {
            return List.of("MODEL_NAME=" + className + ": class not found in the built jar or its dependencies"
                    + " (give the fully qualified name, e.g. com.example.MyModel)");
        }
        if (!SeldonComponent.class.isAssignableFrom(cls)) {
            return List.of("MODEL_NAME=" + className + ": does not implement " + SeldonComponent.class.getName());
        }
        if (Modifier.isAbstract(cls.getModifiers()) || !Modifier.isPublic(cls.getModifiers())) {
            return List.of("MODEL_NAME=" + className + ": must be a public, non-abstract class");
        }
        boolean constructible = false;
        for (var c : cls.getConstructors()) {
            var params = c.getParameterTypes();
            constructible |= params.length == 0 || (params.length == 1 && params[0] == Map.class);
        }
        if (!constructible) {
            return List.of("MODEL_NAME=" + className + ": needs a public no-argument constructor or one taking Map<String, Object> parameters");
        }
        String needed = REQUIRED.get(serviceType);
        if (needed == null) {
            return serviceType.equals("OUTLIER_DETECTOR") ? List.of()
                    : List.of("SERVICE_TYPE=" + serviceType + ": expected one of MODEL, ROUTER, TRANSFORMER, OUTPUT_TRANSFORMER, COMBINER, OUTLIER_DETECTOR");
        }
        for (Method m : cls.getMethods()) {
            if (m.getName().equals(needed) && m.getDeclaringClass() != SeldonComponent.class && !m.isDefault()) {
                return List.of();
            }
        }
        return List.of("MODEL_NAME=" + className + ": SERVICE_TYPE=" + serviceType + " needs the method " + needed
                + "(...) of SeldonComponent, and the class does not override it");
    }

    public static void main(String[] args) {
        if (args.length == 1 && args[0].equals("--probe")) {
            return;
        }
        if (args.length != 2) {
            System.err.println("usage: Check CLASS SERVICE_TYPE");
            System.exit(2);
        }
        List<String> problems = problems(args[0], args[1]);
        problems.forEach(p -> System.err.println("wharf-build error: " + p));
        if (!problems.isEmpty()) {
            System.exit(1);
        }
        System.out.println(args[0] + " is a valid " + args[1]);
    }
}
