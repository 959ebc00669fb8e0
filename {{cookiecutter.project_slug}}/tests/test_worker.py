"""How the workers are wired: queues, rate limit, what runs where."""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment

from {{ cookiecutter.package_name }}.agent.tools import TOOLS
from {{ cookiecutter.package_name }}.config import load_settings
from {{ cookiecutter.package_name }}.runtime.worker import build_workers


async def test_llm_calls_get_their_own_rate_limited_queue(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    settings = load_settings().model_copy(update={"llm_max_requests_per_second": 2.5})
    main, llm = build_workers(time_skipping_env.client, settings, task_queue="orders")
    main_config, llm_config = main.config(), llm.config()
    assert main_config["task_queue"] == "orders"
    workflows = [fn.__name__ for fn in main_config["workflows"]]
    assert workflows == ["AgentWorkflow", "ConversationWorkflow"]
    assert [a.__name__ for a in main_config["activities"]] == ["run_tool", "call_mcp_tool"]
    assert main_config.get("max_task_queue_activities_per_second") is None
    assert llm_config["task_queue"] == "orders-llm"
    assert [a.__name__ for a in llm_config["activities"]] == ["call_llm"]
    assert llm_config["max_task_queue_activities_per_second"] == 2.5


def test_every_tool_declares_its_contract() -> None:
    assert set(TOOLS) == {"search_docs", "send_email"}
    for name, tool in TOOLS.items():
        schema = tool.openai_schema()["function"]
        assert schema["name"] == name
        assert schema["description"]
        assert schema["parameters"]["type"] == "object"
        assert isinstance(tool.requires_approval, bool)
        assert isinstance(tool.secret_paths, tuple)
    assert TOOLS["send_email"].requires_approval
    assert not TOOLS["search_docs"].requires_approval
