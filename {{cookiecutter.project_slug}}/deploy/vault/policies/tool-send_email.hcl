# Read-only access for the send_email tool; rendered from its declared secret paths.
path "secret/data/{{ cookiecutter.project_slug }}/tools/send_email" {
  capabilities = ["read"]
}
