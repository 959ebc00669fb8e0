"""A run's live page: its text as the model writes it, its steps, and a pending approval's form.

The page itself is static HTML; ``/ui/live.js`` (served by the API, no inline
script, so the Content-Security-Policy stays strict) follows the run with
EventSource and renders every value with ``textContent`` (never as HTML). The
approval form it builds carries the page's CSRF token, like the approvals page.
"""

from __future__ import annotations

from html import escape

from .. import SERVICE_NAME
from .approval_page import STYLE

LIVE_STYLE = """
#text { white-space: pre-wrap; } #steps { color: #555; font-size: .9rem; }
#state { font-weight: 600; }
"""


def live_page(workflow_id: str, *, user: str, csrf: str) -> str:
    wid = escape(workflow_id)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Run {wid} - {escape(SERVICE_NAME)}</title>"
        f"<style>{STYLE}{LIVE_STYLE}</style>"
        '<script src="/ui/live.js" defer></script></head>'
        f'<body><h1>Run {wid}</h1><p class="who">signed in as <b>{escape(user)}</b> &middot; '
        '<a href="/ui">pending approvals</a></p>'
        f'<div id="run" data-workflow-id="{wid}" data-csrf="{escape(csrf)}">'
        '<p>State: <span id="state" role="status">connecting</span></p>'
        '<div id="approvals"></div>'
        '<div class="card"><pre id="text" aria-live="polite"></pre></div>'
        '<ol id="steps"></ol></div></body></html>'
    )


LIVE_JS = """
"use strict";
(function () {
  const root = document.getElementById("run");
  const id = root.dataset.workflowId;
  const csrf = root.dataset.csrf;
  const text = document.getElementById("text");
  const steps = document.getElementById("steps");
  const state = document.getElementById("state");
  const approvals = document.getElementById("approvals");
  const replies = {};

  function line(words) {
    const item = document.createElement("li");
    item.textContent = words;
    steps.appendChild(item);
  }
  function reply(step) {
    if (!replies[step]) {
      replies[step] = document.createElement("span");
      replies[step].dataset.step = step;
      text.appendChild(replies[step]);
    }
    return replies[step];
  }
  function hidden(form, name, value) {
    const input = document.createElement("input");
    input.type = "hidden"; input.name = name; input.value = value;
    form.appendChild(input);
  }
  function approvalForm(event) {
    const card = document.createElement("div");
    card.className = "card"; card.dataset.approvalId = event.text;
    const title = document.createElement("h2");
    title.textContent = event.tool + " (" + event.text + ") awaits your decision";
    card.appendChild(title);
    const form = document.createElement("form");
    form.method = "post"; form.action = "/ui/decide";
    hidden(form, "csrf", csrf); hidden(form, "workflow_id", id);
    hidden(form, "approval_id", event.text);
    const reason = document.createElement("textarea");
    reason.name = "reason"; reason.maxLength = 2000;
    form.appendChild(reason);
    for (const [decision, label] of [["approve", "Approve"], ["reject", "Reject"]]) {
      const button = document.createElement("button");
      button.className = decision; button.name = "decision"; button.value = decision;
      button.textContent = label;
      form.appendChild(button);
    }
    card.appendChild(form);
    approvals.appendChild(card);
  }
  const show = {
    step_started: (e) => { line("step " + e.step); state.textContent = "waiting for the model"; },
    text: (e) => { reply(e.step).textContent += e.text; state.textContent = "writing"; },
    retrying: (e) => {
      reply(e.step).textContent = "";
      line("step " + e.step + ": retrying the model call (attempt " + e.attempt + ")");
    },
    tool_started: (e) => {
      line("tool " + e.tool + " started");
      state.textContent = "running " + e.tool;
    },
    tool_finished: (e) => line("tool " + e.tool + " finished"),
    tool_failed: (e) => line("tool " + e.tool + " failed: " + e.text),
    approval_requested: (e) => {
      line("tool " + e.tool + " awaits approval");
      state.textContent = "waiting for an approval";
      approvalForm(e);
    },
    approval_decided: (e) => {
      line("approval for " + e.tool + ": " + e.status + (e.text ? " by " + e.text : ""));
      for (const card of approvals.querySelectorAll("[data-approval-id]")) { card.remove(); }
    },
    budget_exceeded: (e) => line("budget exceeded: " + e.text),
    run_finished: (e) => { state.textContent = "finished: " + e.status; },
  };
  const source = new EventSource("/ui/runs/" + encodeURIComponent(id) + "/events");
  for (const kind of Object.keys(show)) {
    source.addEventListener(kind, (message) => show[kind](JSON.parse(message.data)));
  }
  source.addEventListener("end", () => source.close());
})();
"""
