"""Provenance recorded next to every result: date, machine, command."""

from __future__ import annotations

import datetime as dt

from mgdd.provenance import command_line, machine_description, provenance


def test_command_line_names_the_entry_point_and_quotes_its_arguments():
    assert command_line("-m mgdd.theory", ["--out", "my dir", "--teachers", "3"]) == \
        "python -m mgdd.theory --out 'my dir' --teachers 3"


def test_provenance_has_todays_date_and_the_machine():
    record = provenance(program="-m mgdd.theory", args=[])
    assert record["date"] == dt.date.today().isoformat()
    assert record["command"] == "python -m mgdd.theory"
    assert "torch" in record["machine"] and record["machine"] == machine_description("cpu")
