import io.wharf.wrapper.MicroserviceException;
import io.wharf.wrapper.Payload;
import io.wharf.wrapper.SeldonComponent;
import java.util.List;
import java.util.Map;

/** The Java twin of VectorModel.py: the shared vectors in tests/vectors/ run against both. */
public class VectorModel implements SeldonComponent {
    @Override
    public Object predict(Payload request) {
        if ("boom".equals(request.string())) {
            throw new IllegalStateException("boom");
        }
        if ("bad".equals(request.string())) {
            throw new MicroserviceException("bad input: strData must not be 'bad'");
        }
        return request.value();
    }

    @Override
    public int route(Payload request) {
        return 1;
    }

    @Override
    public Object aggregate(List<Payload> requests) {
        return requests.get(0).value();
    }

    @Override
    public Map<String, Object> tags() {
        return Map.of("lang", "any");
    }

    @Override
    public Map<String, Object> metadata() {
        return Map.of("name", "vector-model", "versions", List.of("v1"), "platform", "test",
                "inputs", List.of(Map.of("messagetype", "ndarray", "schema", Map.of("names", List.of("a", "b")))));
    }
}
