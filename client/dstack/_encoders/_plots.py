"""Encoders for plotly, matplotlib and bokeh figures, importing each lazily."""

from __future__ import annotations

import io
import json
from typing import Any

from . import Attachment, Encoded


def encode_plotly(figure: Any) -> Encoded:
    import plotly

    settings = {"plotly_version": plotly.__version__}
    try:
        from plotly.offline import get_plotlyjs_version

        settings["plotly_js_version"] = get_plotlyjs_version()
    except ImportError:
        pass
    data = figure.to_json().encode("utf-8")
    return Encoded(data, "application/json", "plotly", settings)


def decode_plotly(attachment: Attachment) -> Any:
    """Rebuild a `plotly.graph_objects.Figure`.

    plotly 6 and later write numpy arrays as typed-array objects
    (`{"dtype": "f8", "bdata": "<base64>", "shape": "2, 3"}`) that
    `plotly.io.from_json` keeps as plain dicts; they are turned back into
    numpy arrays here, so the pulled figure equals the pushed one.
    """
    import plotly.graph_objects

    spec = _typed_arrays_to_numpy(json.loads(attachment.read_text()))
    return plotly.graph_objects.Figure(spec)


def _typed_arrays_to_numpy(value: Any) -> Any:
    if isinstance(value, list):
        return [_typed_arrays_to_numpy(item) for item in value]
    if not isinstance(value, dict):
        return value
    if set(value) in ({"dtype", "bdata"}, {"dtype", "bdata", "shape"}):
        import base64

        import numpy

        array = numpy.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        shape = value.get("shape")
        if shape:
            if isinstance(shape, str):
                shape = [int(size) for size in shape.split(",")]
            array = array.reshape(shape)
        return array.copy()  # frombuffer arrays are read-only
    return {key: _typed_arrays_to_numpy(item) for key, item in value.items()}


def encode_matplotlib(figure: Any) -> Encoded:
    import matplotlib

    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg")
    settings = {"matplotlib_version": matplotlib.__version__}
    return Encoded(buffer.getvalue(), "image/svg+xml", "matplotlib", settings)


def decode_svg(attachment: Attachment) -> str:
    """Return the SVG text.

    A matplotlib figure cannot be rebuilt from its SVG, so a pull of one
    returns the SVG markup (display it with `IPython.display.SVG`).
    """
    return attachment.read_text()


def encode_bokeh(model: Any) -> Encoded:
    import bokeh
    from bokeh.embed import json_item

    data = json.dumps(json_item(model)).encode("utf-8")
    settings = {"bokeh_version": bokeh.__version__}
    return Encoded(data, "application/json", "bokeh", settings)


def decode_bokeh(attachment: Attachment) -> Any:
    """Return the `bokeh.embed.json_item` dict.

    Bokeh has no API to rebuild a figure from it; `Bokeh.embed.embed_item` in
    the browser renders it.
    """
    return json.loads(attachment.read_text())
