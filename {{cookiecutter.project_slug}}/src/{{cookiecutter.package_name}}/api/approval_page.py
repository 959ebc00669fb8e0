"""The approval page: plain server-rendered HTML (no JavaScript, no front-end build).

Every value from a run (tool arguments, the task, the model's words) is escaped,
since the model and the user who started the run control them.
"""

from __future__ import annotations

import json
from html import escape

from .. import SERVICE_NAME
from ..models import ApprovalRecord
from ..runtime.approvals import PendingRun

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #1d1d1f; }
h1 { font-size: 1.4rem; } .who { color: #555; font-size: .9rem; }
.card { border: 1px solid #ccc; border-radius: 8px; padding: 1rem 1.2rem; margin: 1rem 0; }
.card h2 { font-size: 1.05rem; margin: 0 0 .5rem; } .meta { color: #555; font-size: .85rem; }
pre { background: #f5f5f7; padding: .6rem; border-radius: 6px; white-space: pre-wrap; }
textarea { width: 100%; min-height: 3rem; box-sizing: border-box; }
button { padding: .45rem 1.2rem; margin: .5rem .5rem 0 0; border-radius: 6px; border: 0;
  cursor: pointer; font-size: .95rem; }
.approve { background: #1a7f37; color: #fff; } .reject { background: #cf222e; color: #fff; }
.notice { padding: .6rem 1rem; border-radius: 6px; background: #ddf4e4; }
.error { padding: .6rem 1rem; border-radius: 6px; background: #ffebe9; }
"""


def _layout(body: str, *, user: str | None = None) -> str:
    who = ""
    if user is not None:
        who = (
            f'<form method="post" action="/ui/logout" class="who">signed in as '
            f"<b>{escape(user)}</b> <button>sign out</button></form>"
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Approvals - {escape(SERVICE_NAME)}</title><style>{STYLE}</style></head>"
        f"<body><h1>Pending approvals - {escape(SERVICE_NAME)}</h1>{who}{body}</body></html>"
    )


def login_page(error: str | None = None) -> str:
    message = f'<p class="error">{escape(error)}</p>' if error else ""
    return _layout(
        f'{message}<form method="post" action="/ui/login" class="card">'
        '<label for="token">API token</label> '
        '<input id="token" name="token" type="password" autocomplete="current-password" required>'
        " <button>Sign in</button></form>"
    )


def approvals_page(
    runs: list[PendingRun],
    *,
    user: str,
    csrf: str,
    notice: str | None = None,
    error: str | None = None,
) -> str:
    parts = []
    if notice:
        parts.append(f'<p class="notice" role="status">{escape(notice)}</p>')
    if error:
        parts.append(f'<p class="error" role="alert">{escape(error)}</p>')
    cards = [_card(run.workflow_id, approval, csrf) for run in runs for approval in run.approvals]
    cards += [
        f'<div class="card"><h2>{escape(run.workflow_id)}</h2>'
        f'<p class="error">{escape(run.error)}</p></div>'
        for run in runs
        if run.error
    ]
    parts += cards or ["<p>Nothing is waiting for approval.</p>"]
    parts.append('<p><a href="/ui">Refresh</a></p>')
    return _layout("".join(parts), user=user)


def _card(workflow_id: str, approval: ApprovalRecord, csrf: str) -> str:
    context = approval.context
    arguments = json.dumps(approval.arguments, indent=2, ensure_ascii=False)
    said = (
        f"<p><b>Model:</b> {escape(context.assistant_message)}</p>"
        if context.assistant_message
        else ""
    )
    user = f" &middot; user {escape(context.user_id)}" if context.user_id else ""
    return (
        f'<div class="card" data-workflow-id="{escape(workflow_id)}">'
        f"<h2>{escape(approval.tool)} <small>({escape(approval.approval_id)})</small></h2>"
        f'<p><a href="/ui/runs/{escape(workflow_id)}">follow this run live</a></p>'
        f'<p class="meta">run {escape(workflow_id)} &middot; step {context.step}{user} &middot; '
        f"requested {approval.requested_at:%Y-%m-%d %H:%M:%S} UTC &middot; "
        f"expires {approval.expires_at:%Y-%m-%d %H:%M:%S} UTC</p>"
        f"<p><b>Task:</b> {escape(context.task)}</p>{said}"
        f"<p><b>Arguments</b></p><pre>{escape(arguments)}</pre>"
        '<form method="post" action="/ui/decide">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        f'<input type="hidden" name="workflow_id" value="{escape(workflow_id)}">'
        f'<input type="hidden" name="approval_id" value="{escape(approval.approval_id)}">'
        f'<label>Reason <textarea name="reason" maxlength="2000"></textarea></label>'
        '<button class="approve" name="decision" value="approve">Approve</button>'
        '<button class="reject" name="decision" value="reject">Reject</button>'
        "</form></div>"
    )
