"""Development and test tooling: scripted model, local stack, load test, evals, gate, replay."""
