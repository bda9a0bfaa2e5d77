"""An Explanation in a notebook: the HTML page's content as one scoped fragment, and Markdown."""

from __future__ import annotations

import chainrule as cr


def test_an_explanation_shows_the_page_content_in_a_notebook(notebook_output):
    ex = cr.explain()
    html = ex._repr_html_()
    body = notebook_output(html, "chainrule-explain")
    assert "0.0821670406" in body  # ∂E/∂w5 as the page writes it (9 significant digits)
    assert "<svg" in body and "w5 = 0.4" in body  # the network drawing, with its weights
    page = ex.render("html")
    main = page[page.index("<main>\n") + len("<main>\n"):page.index("\n</main>")]
    assert body == main  # the same content as the page, nothing more


def test_a_focused_explanation_is_a_fragment_too(notebook_output):
    ex = cr.explain()
    body = notebook_output(ex.render("html", focus="w1", notebook=True), "chainrule-explain")
    assert body.startswith("<h1>chainrule explain: ∂E/∂w1, one training step</h1>")
    assert "0.000438567734" in body  # ∂E/∂w1


def test_an_explanation_offers_markdown_as_well():
    ex = cr.explain()
    assert ex._repr_markdown_() == ex.render("markdown")

