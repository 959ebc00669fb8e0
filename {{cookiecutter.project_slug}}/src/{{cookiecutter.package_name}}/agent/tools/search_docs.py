"""search_docs: read-only search over the documents bundled in ``tools/docs/``.

Replace the documents (or point ``AGENT_DOCS_DIR`` at your own folder of
``.md``/``.txt`` files). Scoring is plain word overlap: good enough for a demo,
and the place to plug in a real index.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, Field

from ..tooling import Tool, ToolContext

BUNDLED_DOCS = Path(__file__).parent / "docs"
WORD = re.compile(r"[a-z0-9]+")


class SearchDocsArgs(BaseModel):
    query: str = Field(min_length=1, max_length=500, description="what to look for")
    limit: int = Field(default=3, ge=1, le=10, description="how many documents to return")


class SearchDocs(Tool):
    name: ClassVar[str] = "search_docs"
    description: ClassVar[str] = (
        "Search the bundled documents and return the best matching passages with their file names."
    )
    Args: ClassVar[type[BaseModel]] = SearchDocsArgs
    requires_approval: ClassVar[bool] = False
    secret_paths: ClassVar[tuple[str, ...]] = ()

    async def run(self, args: SearchDocsArgs, context: ToolContext) -> str:
        folder = context.settings.docs_dir or BUNDLED_DOCS
        hits = search(folder, args.query, args.limit)
        if not hits:
            return f"no document matches {args.query!r}"
        return "\n\n".join(f"[{name}]\n{text}" for name, text in hits)


def search(folder: Path, query: str, limit: int) -> list[tuple[str, str]]:
    terms = set(WORD.findall(query.lower()))
    scored: list[tuple[int, str, str]] = []
    for path in sorted(folder.glob("*")):
        if path.suffix not in {".md", ".txt"}:
            continue
        text = path.read_text(encoding="utf-8")
        score = sum(1 for word in WORD.findall(text.lower()) if word in terms)
        if score:
            scored.append((score, path.name, text.strip()))
    scored.sort(key=lambda hit: (-hit[0], hit[1]))
    return [(name, text[:1500]) for _, name, text in scored[:limit]]
