"""The gateway fuzzed from its own OpenAPI document (schemathesis), on the simulator.

Every operation of the running gateway's /openapi.json gets its documented examples and
generated requests, valid and invalid, each sent with an inference key and with a
management key of one account. No answer may be a 5xx, and each must be one the
document declares: its status, its content type, and its schema where it gives one.
Bounded: a fixed number of cases per operation, derandomized (the same cases on every
run), each call with a timeout (a hang fails the test).

(schemathesis's pytest plugin reads a pytest internal that pytest 9 removed, hence the
loop over operations with hypothesis's `given` here.)
"""

from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import checks
from schemathesis.generation import GenerationMode

from tests.integration.harness import RunningStack

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]
CASES_PER_OPERATION = 8  # x every operation (35) x 2 keys, plus the examples: ~600 calls
CALL_TIMEOUT = 30


@pytest.fixture(scope="module")
def fuzzed_stack(tmp_path_factory):
    # Its own stack: the management key changes settings and creates keys as it goes.
    running = RunningStack(tmp_path_factory.mktemp("fuzz")).start()
    yield running
    running.stop()


def test_the_gateway_answers_as_its_document_says(fuzzed_stack):
    account = fuzzed_stack.new_account("fuzz")
    keys = {"inference": account.key, "management": account.management_key}
    schema = schemathesis.openapi.from_url(f"{fuzzed_stack.url}/openapi.json")
    statuses: Counter[str] = Counter()
    failures: dict[str, str] = {}

    def check(case) -> None:
        for kind, key in keys.items():
            response = case.call(headers={"authorization": f"Bearer {key}"}, timeout=CALL_TIMEOUT)
            statuses[f"{response.status_code // 100}xx"] += 1
            try:
                case.validate_response(response, checks=CHECKS)
            except BaseExceptionGroup as failed:  # schemathesis's FailureGroup
                raise AssertionError(f"with the {kind} key: {failed}") from failed

    def run(strategy, cases: int) -> None:
        @given(case=strategy)
        @settings(
            max_examples=cases,
            derandomize=True,
            deadline=None,
            phases=[Phase.generate],  # no shrinking: a failure is reported as found
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def fuzz(case) -> None:
            check(case)

        fuzz()

    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        try:
            for example in operation.get_strategies_from_examples():
                run(example, 1)  # each documented example, every run
            generated = st.one_of(
                operation.as_strategy(GenerationMode.POSITIVE),
                operation.as_strategy(GenerationMode.NEGATIVE),
            )
            run(generated, CASES_PER_OPERATION)
        except AssertionError as exc:
            failures[operation.label] = str(exc)[:2000]

    print(f"fuzzed {len(operations)} operations: {sum(statuses.values())} calls, {statuses}")
    assert len(operations) >= 25
    assert statuses["2xx"] > 0  # the examples were served, not only refused
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
