package io.wharf.wrapper;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * An n-dimensional array as a request carried it ({@code data.ndarray}, {@code data.tensor}) or as a
 * user method returns it. Kept as the nested JSON list, so that integers stay integers and strings stay
 * strings when a value goes back unchanged, with its shape and whether every element is a number.
 * Conversion helpers give the common Java types ({@code double[][]}, {@code double[]}, shape + values).
 */
public final class NdArray {
    private static final JsonNodeFactory F = Json.NODES;

    private final JsonNode nested;
    private final int[] shape; // null when the list is ragged (then it counts as 1-D, like numpy's object arrays)
    private final boolean numeric;
    private String dtype; // the TensorFlow dtype a tftensor arrived with, kept for the answer

    private NdArray(JsonNode nested, int[] shape, boolean numeric) {
        this.nested = nested;
        this.shape = shape;
        this.numeric = numeric;
    }

    /** A nested JSON list. As numpy does, a numeric list holding any float is all floats. */
    public static NdArray of(JsonNode nested) {
        if (!nested.isArray()) {
            throw new MicroserviceException("expected a JSON list, got " + nested.getNodeType().toString().toLowerCase());
        }
        int[] shape = shapeOf(nested);
        Leaves leaves = new Leaves();
        leaves.scan(nested);
        boolean numeric = leaves.count == 0 || leaves.numbers == leaves.count;
        if (numeric && leaves.floats > 0 && leaves.floats < leaves.numbers) {
            nested = widen(nested);
        }
        return new NdArray(nested, shape, numeric && shape != null);
    }

    public static NdArray of(double[][] matrix) {
        ArrayNode rows = F.arrayNode(matrix.length);
        int cols = matrix.length == 0 ? 0 : matrix[0].length;
        boolean regular = true;
        for (double[] row : matrix) {
            ArrayNode r = rows.addArray();
            for (double v : row) {
                r.add(v);
            }
            regular &= row.length == cols;
        }
        return new NdArray(rows, regular ? new int[] {matrix.length, cols} : null, regular);
    }

    public static NdArray of(double[] vector) {
        ArrayNode list = F.arrayNode(vector.length);
        for (double v : vector) {
            list.add(v);
        }
        return new NdArray(list, new int[] {vector.length}, true);
    }

    /** Shape plus values in row-major order, as {@code data.tensor} carries them. */
    public static NdArray ofTensor(int[] shape, double[] values) {
        ArrayNode flat = F.arrayNode(values.length);
        for (double v : values) {
            flat.add(v);
        }
        return reshape(flat, shape, "tensor");
    }

    /** Flat JSON numbers and a shape; fails with a message naming {@code where} when they do not fit. */
    static NdArray reshape(ArrayNode flat, int[] shape, String where) {
        long size = 1;
        for (int d : shape) {
            if (d < 0) {
                throw new MicroserviceException(where + ": values do not fit shape " + Arrays.toString(shape));
            }
            size *= d;
        }
        if (size != flat.size()) {
            // numpy's text first and a 500, as upstream, whose reshape error escapes
            StringBuilder tuple = new StringBuilder("(");
            for (int i = 0; i < shape.length; i++) {
                tuple.append(i > 0 ? "," : "").append(shape[i]);
            }
            tuple.append(shape.length == 1 ? ",)" : ")");
            throw new MicroserviceException("cannot reshape array of size " + flat.size() + " into shape " + tuple
                    + ": " + where + ": " + flat.size() + " values do not fit shape " + Arrays.toString(shape),
                    500, MicroserviceException.INTERNAL_ERROR);
        }
        int[] pos = {0};
        JsonNode nested = shape.length == 0 ? flat.get(0) : build(flat, shape, 0, pos);
        return of(nested == null ? F.arrayNode() : nested);
    }

    private static JsonNode build(ArrayNode flat, int[] shape, int dim, int[] pos) {
        ArrayNode out = F.arrayNode(shape[dim]);
        for (int i = 0; i < shape[dim]; i++) {
            if (dim == shape.length - 1) {
                out.add(flat.get(pos[0]++));
            } else {
                out.add(build(flat, shape, dim + 1, pos));
            }
        }
        return out;
    }

    NdArray withDtype(String tfDtype) {
        this.dtype = tfDtype;
        return this;
    }

    String dtype() {
        return dtype;
    }

    public JsonNode json() {
        return nested;
    }

    public boolean isNumeric() {
        return numeric;
    }

    /** The shape, or {@code [length]} for a ragged list. */
    public int[] shape() {
        return shape != null ? shape.clone() : new int[] {nested.size()};
    }

    public int ndim() {
        return shape != null ? shape.length : 1;
    }

    /** The leaves in row-major order, as JSON nodes (for {@code tensor.values}). */
    public ArrayNode flatJson() {
        ArrayNode flat = F.arrayNode();
        flatten(nested, flat);
        return flat;
    }

    /** All elements as doubles in row-major order; fails for non-numeric arrays. */
    public double[] values() {
        requireNumeric();
        ArrayNode flat = flatJson();
        double[] out = new double[flat.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = flat.get(i).asDouble();
        }
        return out;
    }

    /** A 2-D numeric array as {@code double[rows][cols]}; a 1-D array becomes one row. */
    public double[][] toMatrix() {
        requireNumeric();
        if (ndim() == 1) {
            return new double[][] {values()};
        }
        if (ndim() != 2) {
            throw new MicroserviceException("expected a 2-D array, got shape " + Arrays.toString(shape));
        }
        double[][] out = new double[shape[0]][shape[1]];
        for (int r = 0; r < shape[0]; r++) {
            JsonNode row = nested.get(r);
            for (int c = 0; c < shape[1]; c++) {
                out[r][c] = row.get(c).asDouble();
            }
        }
        return out;
    }

    public double[] toVector() {
        return values();
    }

    private void requireNumeric() {
        if (!numeric) {
            throw new MicroserviceException("expected a numeric array, got " + nested);
        }
    }

    @Override
    public String toString() {
        return nested.toString();
    }

    private static void flatten(JsonNode node, ArrayNode out) {
        if (node.isArray()) {
            for (JsonNode child : node) {
                flatten(child, out);
            }
        } else {
            out.add(node);
        }
    }

    /** The shape of a regular nested list, or null when sublists differ in length or depth. */
    private static int[] shapeOf(JsonNode node) {
        List<Integer> dims = new ArrayList<>();
        JsonNode cur = node;
        while (cur.isArray()) {
            dims.add(cur.size());
            if (cur.size() == 0) {
                break;
            }
            cur = cur.get(0);
        }
        int[] shape = dims.stream().mapToInt(Integer::intValue).toArray();
        return regular(node, shape, 0) ? shape : null;
    }

    private static boolean regular(JsonNode node, int[] shape, int dim) {
        if (dim == shape.length) {
            return !node.isArray();
        }
        if (!node.isArray() || node.size() != shape[dim]) {
            return false;
        }
        for (JsonNode child : node) {
            if (!regular(child, shape, dim + 1)) {
                return false;
            }
        }
        return true;
    }

    private static JsonNode widen(JsonNode node) {
        if (node.isArray()) {
            ArrayNode out = F.arrayNode(node.size());
            for (JsonNode child : node) {
                out.add(widen(child));
            }
            return out;
        }
        return node.isIntegralNumber() ? F.numberNode(node.asDouble()) : node;
    }

    private static final class Leaves {
        int count;
        int numbers;
        int floats;

        void scan(JsonNode node) {
            if (node.isArray()) {
                for (JsonNode child : node) {
                    scan(child);
                }
                return;
            }
            count++;
            if (node.isNumber()) {
                numbers++;
                if (node.isFloatingPointNumber()) {
                    floats++;
                }
            }
        }
    }
}
