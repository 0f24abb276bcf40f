"""Registration of the built-in encoders and decoders."""

from __future__ import annotations

from pathlib import Path

from . import (
    _basic,
    _models,
    _numpy,
    _pandas,
    _plots,
    decode_bytes,
    register_decoder,
    register_encoder,
)


def register_all() -> None:
    # Later registrations are tried first, so general classes come first here.
    register_encoder(bytes, _basic.encode_bytes)
    register_encoder(bytearray, _basic.encode_bytes)
    register_encoder(memoryview, _basic.encode_bytes)
    register_encoder(str, _basic.encode_text)
    register_encoder(_basic.Markdown, _basic.encode_markdown)
    register_encoder(Path, _basic.encode_path)
    register_encoder("numpy.ndarray", _numpy.encode_ndarray)
    register_encoder("pandas.DataFrame", _pandas.encode_dataframe)
    register_encoder("pandas.Series", _pandas.encode_series)
    register_encoder("plotly.basedatatypes.BaseFigure", _plots.encode_plotly)
    register_encoder("matplotlib.figure.Figure", _plots.encode_matplotlib)
    register_encoder("bokeh.models.layouts.LayoutDOM", _plots.encode_bokeh)
    # In this order, so that the more specific classes are tried first: an
    # XGBoost wrapper is a scikit-learn estimator, and a Keras model on the
    # torch backend a torch module.
    for target in _models.MODEL_CLASSES:
        register_encoder(target, _models.encode_model)

    register_decoder(_basic.decode_text, media_type="text/plain")
    register_decoder(_basic.decode_markdown, media_type="text/markdown")
    register_decoder(_basic.decode_json, media_type="application/json")
    register_decoder(_basic.decode_csv, media_type="text/csv")
    register_decoder(_plots.decode_svg, media_type="image/svg+xml")
    register_decoder(_numpy.decode_ndarray, media_type=_numpy.NPY)
    register_decoder(_pandas.decode_dataframe, media_type=_pandas.PARQUET)
    register_decoder(
        _pandas.decode_series, application="pandas/series", media_type=_pandas.PARQUET
    )
    register_decoder(_plots.decode_plotly, application="plotly")
    register_decoder(_plots.decode_bokeh, application="bokeh")
    register_decoder(_plots.decode_svg, application="matplotlib")
    register_decoder(decode_bytes, application=_basic.FILE_APPLICATION)
    for application in _models.APPLICATIONS:
        register_decoder(_models.decode_model, application=application)
