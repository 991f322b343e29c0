package io.wharf.examples;

import io.wharf.wrapper.Metric;
import io.wharf.wrapper.Payload;
import io.wharf.wrapper.SeldonComponent;
import java.util.List;
import java.util.Map;

/**
 * A nearest-centroid iris classifier, the Java twin of examples/models/iris: class probabilities from a
 * softmax over negative squared distances to the per-species means of Fisher's measurements.
 */
public class IrisClassifier implements SeldonComponent {
    private static final double[][] CENTROIDS = {
        {5.006, 3.428, 1.462, 0.246}, // setosa
        {5.936, 2.770, 4.260, 1.326}, // versicolor
        {6.588, 2.974, 5.552, 2.026}, // virginica
    };

    private final double temperature;

    public IrisClassifier(Map<String, Object> parameters) {
        Object t = parameters.get("temperature");
        this.temperature = t instanceof Number n ? n.doubleValue() : 1.0;
    }

    @Override
    public Object predict(Payload request) {
        double[] flat = request.toVector();
        if (flat.length % 4 != 0) {
            throw new io.wharf.wrapper.MicroserviceException("expected rows of 4 features, got " + flat.length + " values");
        }
        double[][] proba = new double[flat.length / 4][CENTROIDS.length];
        for (int r = 0; r < proba.length; r++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int c = 0; c < CENTROIDS.length; c++) {
                double d = 0;
                for (int f = 0; f < 4; f++) {
                    double diff = flat[r * 4 + f] - CENTROIDS[c][f];
                    d += diff * diff;
                }
                proba[r][c] = -d / temperature;
                max = Math.max(max, proba[r][c]);
            }
            double sum = 0;
            for (int c = 0; c < CENTROIDS.length; c++) {
                proba[r][c] = Math.exp(proba[r][c] - max);
                sum += proba[r][c];
            }
            for (int c = 0; c < CENTROIDS.length; c++) {
                proba[r][c] /= sum;
            }
        }
        return proba;
    }

    @Override
    public List<String> classNames() {
        return List.of("setosa", "versicolor", "virginica");
    }

    @Override
    public Map<String, Object> tags() {
        return Map.of("model", "iris-nearest-centroid");
    }

    @Override
    public List<Metric> metrics() {
        return List.of(Metric.counter("iris_rows_total", 1));
    }

    @Override
    public Map<String, Object> metadata() {
        return Map.of(
                "name", "iris", "versions", List.of("v1"), "platform", "java",
                "inputs", List.of(Map.of("messagetype", "ndarray", "schema",
                        Map.of("names", List.of("sepal_length", "sepal_width", "petal_length", "petal_width"), "shape", List.of(4)))),
                "outputs", List.of(Map.of("messagetype", "ndarray", "schema",
                        Map.of("names", List.of("setosa", "versicolor", "virginica"), "shape", List.of(3)))));
    }
}
