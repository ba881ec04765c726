"""Fixture of tests/integration/test_harness.py (not part of the suite's own run): a skip for a
missing package, and one for another reason."""
import harness


def test_missing_tool():
    raise harness.Skip("the frobnicator is not installed", missing="frobnicate")


def test_other_reason():
    raise harness.Skip("needs hardware this machine does not have")
