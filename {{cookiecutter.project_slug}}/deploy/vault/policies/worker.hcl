# The worker's login policy: it reads no secret itself. It mints a short-lived
# child token per scope through the token role {{ cookiecutter.project_slug }}-scoped, and each child
# carries only that scope's policy.
path "auth/token/create/{{ cookiecutter.project_slug }}-scoped" {
  capabilities = ["update"]
}

# Keep its own login token alive.
path "auth/token/renew-self" {
  capabilities = ["update"]
}
path "auth/token/lookup-self" {
  capabilities = ["read"]
}
