"""Writes test/fixtures/documents/encrypted.pdf: the handbook fixture behind a user password.

pdf-lib cannot encrypt, so this one fixture is made with pypdf (RC4-128, no extra crypto
library needed). It is committed; regenerate only if the handbook fixture changes:

    python3 -m pip install --target /tmp/pypdf "pypdf==5.*"
    PYTHONPATH=/tmp/pypdf python3 scripts/make-encrypted-fixture.py
"""
from pathlib import Path

from pypdf import PdfReader, PdfWriter

fixtures = Path(__file__).resolve().parent.parent / "test" / "fixtures" / "documents"
writer = PdfWriter(clone_from=PdfReader(fixtures / "handbook.pdf"))
writer.encrypt(user_password="keel-secret", owner_password="keel-owner", algorithm="RC4-128")
with open(fixtures / "encrypted.pdf", "wb") as out:
    writer.write(out)
