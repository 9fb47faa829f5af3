"""The evaluation harness of anysteer (tests/eval/run); see docs/evaluation.md."""
