package io.wharf.wrapper;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.Base64;

/**
 * Finding the SeldonMessage in an HTTP request, in upstream's order: multipart form (fields JSON-decoded,
 * {@code strData} kept as text, a {@code binData} file base64-encoded), a form field {@code json=}, a
 * query parameter {@code json=}, then the body as JSON.
 */
final class RequestBody {
    private RequestBody() {}

    static JsonNode extract(String contentType, String rawQuery, byte[] body) {
        String ct = contentType == null ? "" : contentType;
        if (ct.contains("multipart/form-data")) {
            return multipart(ct, body);
        }
        boolean form = ct.contains("application/x-www-form-urlencoded");
        if (form) {
            String json = param(new String(body, StandardCharsets.ISO_8859_1), "json");
            if (json != null) {
                return Json.parse(json, "form field 'json'");
            }
        }
        if (rawQuery != null && rawQuery.contains("json=")) {
            String json = param(rawQuery, "json");
            if (json != null) {
                return Json.parse(json, "query parameter 'json'");
            }
        }
        if (body.length > 0 && !form) {
            try {
                return Json.parse(body, "request body");
            } catch (MicroserviceException exc) {
                // upstream's Flask get_json failure text first, then which part and why
                throw new MicroserviceException(MicroserviceException.CANT_FIND_JSON + ": " + exc.getMessage());
            }
        }
        throw new MicroserviceException(MicroserviceException.CANT_FIND_JSON
                + ": the request has no body, form field 'json' or query parameter 'json'");
    }

    private static String param(String encoded, String name) {
        for (String pair : encoded.split("&")) {
            int eq = pair.indexOf('=');
            String key = URLDecoder.decode(eq < 0 ? pair : pair.substring(0, eq), StandardCharsets.UTF_8);
            if (key.equals(name)) {
                return eq < 0 ? "" : URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8);
            }
        }
        return null;
    }

    /** A small multipart/form-data reader: enough for curl -F fields and files. */
    private static JsonNode multipart(String ct, byte[] body) {
        int at = ct.indexOf("boundary=");
        if (at < 0) {
            throw new MicroserviceException("multipart body could not be parsed: no boundary in Content-Type");
        }
        String boundary = ct.substring(at + 9).split(";")[0].trim().replace("\"", "");
        String text = new String(body, StandardCharsets.ISO_8859_1); // byte-preserving
        String delimiter = "--" + boundary;
        ObjectNode message = Json.MAPPER.createObjectNode();
        for (String part : text.split(java.util.regex.Pattern.quote(delimiter))) {
            if (part.isEmpty() || part.startsWith("--")) {
                continue;
            }
            int headerEnd = part.indexOf("\r\n\r\n");
            if (headerEnd < 0) {
                continue;
            }
            String headers = part.substring(0, headerEnd);
            String content = part.substring(headerEnd + 4);
            if (content.endsWith("\r\n")) {
                content = content.substring(0, content.length() - 2);
            }
            String name = attribute(headers, "name");
            if (name == null) {
                continue;
            }
            byte[] bytes = content.getBytes(StandardCharsets.ISO_8859_1);
            boolean file = attribute(headers, "filename") != null;
            if (file) {
                if (name.equals("binData")) {
                    message.put(name, Base64.getEncoder().encodeToString(bytes));
                } else {
                    message.put(name, new String(bytes, StandardCharsets.UTF_8));
                }
            } else if (name.equals("strData")) {
                message.put(name, new String(bytes, StandardCharsets.UTF_8));
            } else {
                message.set(name, Json.parse(bytes, "form field '" + name + "'"));
            }
        }
        return message;
    }

    private static String attribute(String headers, String key) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("[; ]" + key + "=\"([^\"]*)\"").matcher(headers);
        return m.find() ? m.group(1) : null;
    }
}
