-- Self-test of the runner: a fixed answer that the expectations in health_test.yaml contradict.
return {status = "Healthy", message = "fixed"}
