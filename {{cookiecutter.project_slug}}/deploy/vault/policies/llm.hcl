# Read-only access to the LLM provider's API key, used by the call_llm activity.
path "secret/data/{{ cookiecutter.project_slug }}/llm" {
  capabilities = ["read"]
}
