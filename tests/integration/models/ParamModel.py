"""Receives one constructor argument of every parameter type and reports what it got."""


class ParamModel:
    def __init__(self, int_p, float_p, double_p, string_p, bool_t, bool_f):
        self.params = {
            "int_p": int_p,
            "float_p": float_p,
            "double_p": double_p,
            "string_p": string_p,
            "bool_t": bool_t,
            "bool_f": bool_f,
        }

    def predict(self, X, names, meta=None):
        return {name: [type(value).__name__, value] for name, value in self.params.items()}
