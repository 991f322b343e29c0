import io.wharf.wrapper.Payload;
import io.wharf.wrapper.SeldonComponent;

/** The Java twin of IdentityModel.py for bench_component.py: predict returns its input. */
public class IdentityModel implements SeldonComponent {
    @Override
    public Object predict(Payload request) {
        return request.value();
    }
}
