"""Explanation.render finds its renderer in a registry that the renderer modules fill."""

import sys

import pytest

import chainrule as cr
from chainrule.errors import ConfigError
from chainrule.explain import model

explain_package = sys.modules["chainrule.explain"]


@pytest.fixture(scope="module")
def ex():
    return cr.explain()


def test_every_format_is_registered_by_its_renderer_module():
    assert explain_package.FORMATS == ("text", "markdown", "html", "json", "xlsx")
    assert list(model.RENDERERS) == [*explain_package.FORMATS, "dot", "svg"]
    for name, module in [("markdown", "render_markdown"), ("html", "render_html"),
                         ("json", "render_json"), ("xlsx", "render_xlsx"), ("dot", "graph"),
                         ("svg", "graph")]:
        assert model.RENDERERS[name].__module__ == f"chainrule.explain.{module}"
    assert model.BINARY_FORMATS == {"xlsx"}


@pytest.mark.parametrize("format", ["text", "markdown", "html", "json"])
def test_render_method_and_function_agree(ex, format):
    assert ex.render(format) == explain_package.render(ex, format) == \
        model.RENDERERS[format](ex)


def test_to_dot_is_the_registered_graph(ex):
    from chainrule.explain.graph import to_dot

    assert ex.to_dot() == to_dot(ex)


def test_a_newly_registered_format_renders(ex, monkeypatch):
    monkeypatch.setitem(model.RENDERERS, "shout", lambda e, **o: repr(e).upper())
    assert ex.render("shout") == repr(ex).upper()


def test_an_unknown_format_names_the_document_formats(ex):
    with pytest.raises(ConfigError, match=r"unknown format 'pdf'; choose one of text, "
                                          r"markdown, html, json, xlsx$"):
        ex.render("pdf")


@pytest.mark.parametrize("format", ["text", "markdown", "html", "json"])
def test_render_to_a_path_writes_the_document_and_returns_the_path(ex, format, tmp_path):
    path = tmp_path / f"step.{format}"
    assert ex.render(format, path) == path
    assert path.read_text(encoding="utf-8") == ex.render(format)
    assert explain_package.render(ex, format, str(path)) == path


def test_a_binary_format_needs_a_path(ex, monkeypatch):
    called = []
    monkeypatch.setitem(model.RENDERERS, "zip", lambda e, **o: called.append(o) or b"PK")
    monkeypatch.setattr(model, "BINARY_FORMATS", {"zip"})
    with pytest.raises(ConfigError, match=r"^explain: the zip format is a file, not text: give "
                                          r"the file to write, ex.render\('zip', "
                                          r"path='step.zip'\)$"):
        ex.render("zip")
    assert called == []  # refused before any work
