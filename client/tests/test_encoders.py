from __future__ import annotations

import json
import subprocess
import sys

import pytest

import dstack
from dstack._encoders import Encoded, decode, encode

from .helpers import as_attachment, round_trip


def test_import_needs_no_optional_library():
    code = (
        "import sys, dstack\n"
        "heavy = {'pandas', 'pyarrow', 'plotly', 'matplotlib', 'bokeh', 'numpy'}\n"
        "print(sorted(heavy & set(sys.modules)))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert output.stdout.strip() == "[]"


def test_bytes_are_octet_stream(tmp_path):
    encoded, decoded = round_trip(b"\x00\xff", tmp_path)

    assert encoded.media_type == "application/octet-stream"
    assert decoded == b"\x00\xff"


def test_str_is_plain_text(tmp_path):
    encoded, decoded = round_trip("grüße", tmp_path)

    assert encoded.media_type == "text/plain"
    assert decoded == "grüße"


def test_markdown_is_text_markdown(tmp_path):
    encoded, decoded = round_trip(dstack.md("**bold**"), tmp_path)

    assert encoded.media_type == "text/markdown"
    assert decoded.text == "**bold**"


def test_path_keeps_the_file_name_and_guesses_the_type(tmp_path):
    source = tmp_path / "chart.png"
    source.write_bytes(b"\x89PNG")

    encoded = encode(source)

    assert encoded.data == source
    assert (encoded.filename, encoded.media_type) == ("chart.png", "image/png")


def test_path_of_unknown_type_is_octet_stream(tmp_path):
    source = tmp_path / "weights.zzz"
    source.write_bytes(b"1")

    assert encode(source).media_type == "application/octet-stream"


def test_path_to_a_directory_is_rejected(tmp_path):
    with pytest.raises(dstack.EncodingError, match="not a file"):
        encode(tmp_path)


def test_plotly_figure_round_trips(tmp_path):
    import plotly
    import plotly.graph_objects as go

    figure = go.Figure(
        go.Bar(x=["EU", "US"], y=[3, 5]), layout={"title": {"text": "Sales"}}
    )

    encoded, decoded = round_trip(figure, tmp_path)

    assert (encoded.media_type, encoded.application) == ("application/json", "plotly")
    assert encoded.settings["plotly_version"] == plotly.__version__
    assert isinstance(decoded, go.Figure)
    assert decoded.to_dict() == figure.to_dict()


def test_matplotlib_figure_is_svg(tmp_path):
    from matplotlib.figure import Figure

    figure = Figure()
    figure.add_subplot().plot([1, 2, 3])

    encoded, decoded = round_trip(figure, tmp_path)

    assert (encoded.media_type, encoded.application) == ("image/svg+xml", "matplotlib")
    assert isinstance(decoded, str)
    assert "<svg" in decoded


def test_bokeh_figure_is_a_json_item(tmp_path):
    import bokeh
    from bokeh.plotting import figure

    plot = figure(title="Sales")
    plot.line([1, 2], [3, 4])

    encoded, decoded = round_trip(plot, tmp_path)

    assert (encoded.media_type, encoded.application) == ("application/json", "bokeh")
    assert encoded.settings["bokeh_version"] == bokeh.__version__
    assert set(decoded) >= {"target_id", "root_id", "doc"}


def test_numpy_array_round_trips(tmp_path):
    import numpy
    array = numpy.arange(12, dtype="int16").reshape(3, 4)

    encoded, decoded = round_trip(array, tmp_path)

    assert encoded.media_type == "application/x-npy"
    assert decoded.dtype == array.dtype
    numpy.testing.assert_array_equal(decoded, array)


def test_numpy_object_array_is_rejected():
    import numpy

    with pytest.raises(dstack.EncodingError, match="object arrays need pickle"):
        encode(numpy.array([{"a": 1}], dtype=object))


def test_csv_from_another_client_decodes_to_a_dataframe(tmp_path):
    import pandas
    path = tmp_path / "r.csv"
    path.write_text("region,sales\nEU,3\nUS,5\n")
    attachment = as_attachment(Encoded(path, "text/csv", None), path)

    frame = decode(attachment)

    expected = pandas.DataFrame({"region": ["EU", "US"], "sales": [3, 5]})
    pandas.testing.assert_frame_equal(frame, expected)


def test_json_attachment_decodes_to_python(tmp_path):
    path = tmp_path / "data.json"
    path.write_text(json.dumps({"a": [1, 2]}))

    assert decode(as_attachment(Encoded(path, "application/json"), path)) == {
        "a": [1, 2]
    }


def test_unknown_media_type_decodes_to_bytes(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(b"raw")

    assert decode(as_attachment(Encoded(path, "image/webp"), path)) == b"raw"


class Point:
    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y


def test_custom_encoder_and_decoder_round_trip(tmp_path):
    dstack.register_encoder(
        Point,
        lambda p: Encoded(f"{p.x},{p.y}".encode(), "text/x-point", "tests/point"),
    )
    dstack.register_decoder(
        lambda a: Point(*map(int, a.read_text().split(","))), application="tests/point"
    )

    _, decoded = round_trip(Point(2, 3), tmp_path)

    assert (decoded.x, decoded.y) == (2, 3)


def test_encoder_argument_overrides_the_registry():
    class Upper:
        def encode(self, obj):
            return Encoded(obj.upper().encode(), "text/plain")

    assert encode("abc", Upper()).data == b"ABC"


def test_encoder_must_return_encoded():
    with pytest.raises(dstack.EncodingError, match="expected Encoded"):
        encode("abc", lambda obj: b"abc")


def test_register_decoder_needs_a_type():
    with pytest.raises(ValueError, match="application or a media_type"):
        dstack.register_decoder(lambda a: None)
