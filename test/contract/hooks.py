"""Schemathesis hooks for `npm run test:contract` (loaded through SCHEMATHESIS_HOOKS by test/contract/run.ts)."""

import schemathesis


@schemathesis.hook("filter_body").apply_to(method="POST", path="/v1/documents")
def multipart_parts_are_text(ctx, body):
    """Every part of a multipart/form-data body is text (or bytes) on the wire.

    A negative case that swaps a part's type for JSON `null`, a number or a boolean reaches the API
    as the text "null", "1" or "true", which is a valid string: it cannot be told from a positive
    case, so the API must accept it. Such bodies are dropped; negative cases that break a string
    rule (empty, NUL, a missing part, an unknown part) still run.
    """
    if not isinstance(body, dict):
        return True
    return all(isinstance(value, (str, bytes)) or type(value).__name__ == "Binary" for value in body.values())
