# Read-only access for the service's codec scope; rendered from its declared secret paths.
path "secret/data/{{ cookiecutter.project_slug }}/codec" {
  capabilities = ["read"]
}
