# Read-only access for the service's llm scope; rendered from its declared secret paths.
path "secret/data/{{ cookiecutter.project_slug }}/llm" {
  capabilities = ["read"]
}
