package io.wharf.wrapper;

import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * An error whose message, HTTP status and reason reach the caller. The body has upstream's shape:
 * {@code {"status": {"status": 1, "info": ..., "code": -1, "reason": ...}}}; the HTTP status carries
 * the real code.
 */
public class MicroserviceException extends RuntimeException {
    public static final String BAD_DATA = "MICROSERVICE_BAD_DATA";
    public static final String INTERNAL_ERROR = "MICROSERVICE_INTERNAL_ERROR";
    public static final String BAD_PARAMETER = "MICROSERVICE_BAD_PARAMETER";
    public static final String BAD_METRIC = "MICROSERVICE_BAD_METRIC";
    public static final String BAD_METADATA = "MICROSERVICE_BAD_METADATA";
    public static final String NOT_READY = "MICROSERVICE_NOT_READY";
    /** Upstream's (seldon-core's Python wrapper) texts, which clients match on: always first. */
    public static final String CANT_FIND_JSON = "Can't find JSON in data";
    public static final String INVALID_REQUEST = "Invalid request data type: ";
    public static final String NOT_FOUND_TEXT = "404 Not Found: The requested URL was not found on the server. "
            + "If you entered the URL manually please check your spelling and try again.";
    public static final String METHOD_NOT_ALLOWED_TEXT = "405 Method Not Allowed: The method is not allowed for the requested URL.";

    private final int statusCode;
    private final String reason;

    public MicroserviceException(String message) {
        this(message, 400, BAD_DATA);
    }

    public MicroserviceException(String message, int statusCode, String reason) {
        super(message);
        this.statusCode = statusCode;
        this.reason = reason;
    }

    public int statusCode() {
        return statusCode;
    }

    public String reason() {
        return reason;
    }

    public ObjectNode toJson() {
        return errorBody(getMessage(), reason);
    }

    public static ObjectNode errorBody(String info, String reason) {
        ObjectNode root = Json.MAPPER.createObjectNode();
        ObjectNode status = root.putObject("status");
        status.put("status", 1);
        status.put("info", info);
        status.put("code", -1);
        status.put("reason", reason);
        return root;
    }

    /** Any failure while serving, as the error the caller sees (500 for the unexpected). */
    public static MicroserviceException of(Throwable exc) {
        if (exc instanceof MicroserviceException m) {
            return m;
        }
        String message = exc.getMessage() != null ? exc.getMessage() : exc.getClass().getSimpleName();
        return new MicroserviceException(message, 500, INTERNAL_ERROR);
    }

    /** Thrown by the default methods of {@link SeldonComponent} the user did not implement. */
    public static final class NotImplemented extends MicroserviceException {
        public NotImplemented(String message) {
            super(message, 400, BAD_DATA);
        }
    }
}
