"""What each page and document shows: frozen dataclasses built from the model, once, and the
one thing the site, the PDFs and the emails render. Every word and every formatted figure is
decided here (from what SQL decided), so the three outputs agree word for word; templates only
place what a view holds (see templates/README.md for each view's fields)."""
