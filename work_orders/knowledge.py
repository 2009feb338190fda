"""The knowledge base: articles of standard answers and standard wording per category, in zh
and en, kept by team leads and the manager; versioned; suggested to the desk and searchable.

- **Stable slugs.** An article is named by its slug (`return-window-7-days`) for good: links,
  the desk and QC scorecards (an article whose wording a call should follow) use it. A slug
  is never reused or renamed.
- **Versions.** Saving an article writes a new `ArticleVersion` (who, when, what changed) and
  makes it current; earlier versions stay. An edit names the version it was made from: if
  someone saved another version in between, the edit is refused (`StaleEdit`, HTTP 409,
  naming who saved what and when) and nothing is lost (the form comes back). Saving the same
  text again (a double click, a retried post) writes nothing and answers with the current
  version.
- **Suggestions** (`suggest`): from the categories the keyword rules suggest for what the
  caller said (`work_orders.rules`, the same rules that suggest a work order's category), and
  from the caller's IVR choices: the menu nodes the call went through (`ivr_path`, read from the
  call's "ivr" `CallEvent`s, which `ivr_menus.services` writes at each step) against the nodes
  an article names. An article both point to comes first, then the deepest IVR node.
- **Search** (`search`): every word of the query must appear in the article's normalised text
  (NFKC, so full-width and half-width match; case-folded), a `LIKE '%word%'` per word over
  `Article.search_text`. No stemming and no ranking beyond "all words present": plain,
  portable (SQLite and PostgreSQL) and fast enough for a knowledge base of hundreds of articles.

Services flush and never commit.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.db import rowcount
from core.errors import DomainError
from core.models import Call, CallEvent
from work_orders.knowledge_models import Article, ArticleVersion

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,58}[a-z0-9])?$")
LANGUAGES = ("zh", "en")
#: The text fields of a version, each required in both languages.
TEXTS = ("title", "answer", "wording")
LIMITS = {"title": 200, "answer": 4000, "wording": 2000}
MAX_LINKS = 10


class KnowledgeError(DomainError):
    code = "knowledge-error"


class InvalidArticle(KnowledgeError):
    """The article's form has bad fields (HTTP 422); `details` names each with the reason."""

    code = "invalid-article"


class ArticleNotFound(KnowledgeError):
    code = "article-not-found"


class ArticleExists(KnowledgeError):
    """A new article's slug is taken (HTTP 409): slugs are never reused."""

    code = "article-exists"


class StaleEdit(KnowledgeError):
    """The edit was made from an older version than the current one (HTTP 409); `details`
    names the current version, its author and when it was saved."""

    code = "article-edited"


@dataclass(frozen=True, slots=True)
class Link:
    title: str
    url: str


@dataclass(frozen=True, slots=True)
class ArticleIn:
    """A checked article form: what one version says."""

    category: str
    title_zh: str
    title_en: str
    answer_zh: str
    answer_en: str
    wording_zh: str
    wording_en: str
    policy_links: tuple[Link, ...] = ()
    ivr_nodes: tuple[str, ...] = ()
    keywords: str = ""
    note: str = ""

    def content(self) -> dict[str, Any]:
        """The columns of a version (the note aside)."""
        return {
            "category": self.category,
            "title_zh": self.title_zh,
            "title_en": self.title_en,
            "answer_zh": self.answer_zh,
            "answer_en": self.answer_en,
            "wording_zh": self.wording_zh,
            "wording_en": self.wording_en,
            "policy_links": [{"title": k.title, "url": k.url} for k in self.policy_links],
            "ivr_nodes": list(self.ivr_nodes),
            "keywords": self.keywords,
        }


@dataclass(frozen=True, slots=True)
class Saved:
    article: Article
    version: ArticleVersion
    created: bool  # False: the same text again, nothing written


@dataclass(frozen=True, slots=True)
class Suggestion:
    article: Article
    #: Why: "rules:<category>" and/or "ivr:<node>".
    reasons: tuple[str, ...] = field(default=())


def normalise(text: str) -> str:
    """Text as search compares it (pure): NFKC (full-width ＡＢＣ１２３ → ABC123, half-width
    katakana → full), case-folded, runs of white space as one space."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def parse_links(text: str) -> tuple[tuple[Link, ...], str | None]:
    """Policy links from a form's text, one a line, "title | url" (or a bare url); the links
    and the reason if a line is bad (pure). A url is http(s):// or a path of this site."""
    links = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        title, bar, url = line.rpartition("|")
        title, url = (title.strip(), url.strip()) if bar else (url.strip(), url.strip())
        if not re.match(r"^(https?://[^\s/]+|/)\S*$", url) or len(url) > 300:
            return (), f"line {number}: {url!r} is not an http(s):// link or a /path"
        links.append(Link(title[:120] or url, url))
    if len(links) > MAX_LINKS:
        return (), f"at most {MAX_LINKS} links"
    return tuple(links), None


def check(
    form: Mapping[str, Any], *, categories: Collection[str], menu_nodes: Collection[str]
) -> ArticleIn:
    """The article form checked (pure): every text in zh and en, a known category, policy links
    ("title | url" a line), IVR nodes the menus have. Raises `InvalidArticle` naming each bad
    field; nothing is stored."""
    bad: dict[str, str] = {}
    texts: dict[str, str] = {}
    for name in TEXTS:
        for lang in LANGUAGES:
            key = f"{name}_{lang}"
            value = str(form.get(key) or "").strip()
            if not value:
                bad[key] = "required"
            elif len(value) > LIMITS[name]:
                bad[key] = f"at most {LIMITS[name]} characters"
            texts[key] = value
    category = str(form.get("category") or "").strip()
    if category not in categories:
        bad["category"] = f"unknown category {category!r}; one of {', '.join(sorted(categories))}"
    links, why = parse_links(str(form.get("policy_links") or ""))
    if why:
        bad["policy_links"] = why
    nodes = _words(form.get("ivr_nodes"))
    unknown = [n for n in nodes if n not in menu_nodes]
    if unknown:
        bad["ivr_nodes"] = f"not nodes of the IVR menus: {', '.join(unknown)}"
    keywords = " ".join(str(form.get("keywords") or "").split())
    if len(keywords) > 400:
        bad["keywords"] = "at most 400 characters"
    note = " ".join(str(form.get("note") or "").split())
    if len(note) > 200:
        bad["note"] = "at most 200 characters"
    if bad:
        raise InvalidArticle("the article has bad fields: " + ", ".join(sorted(bad)), **bad)
    return ArticleIn(
        category=category,
        policy_links=links,
        ivr_nodes=tuple(dict.fromkeys(nodes)),
        keywords=keywords,
        note=note,
        **texts,
    )


def _words(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if str(v).strip()]
    return [w for w in re.split(r"[\s,，]+", str(value or "")) if w]


def check_slug(slug: str) -> str:
    """A new article's slug, checked (pure): lower-case letters, digits and hyphens, 1-60."""
    slug = slug.strip()
    if not SLUG.match(slug):
        raise InvalidArticle(
            "the slug is bad", slug="lower-case letters, digits and hyphens (a-z 0-9 -), 1-60"
        )
    return slug


def create_article(
    session: Session,
    slug: str,
    given: ArticleIn,
    *,
    author_id: int | None,
    author: str,
    now: datetime,
) -> Saved:
    """Create an article with its version 1. The same slug and text again (a double click)
    returns the article as it is (`created` False); a slug taken by another text raises
    `ArticleExists`. Flushes."""
    slug = check_slug(slug)
    found = session.scalar(select(Article).where(Article.slug == slug))
    if found is None:
        article = Article(
            slug=slug, current_version=1, created_at=now, updated_at=now, **_current(given)
        )
        try:
            with session.begin_nested():
                session.add(article)
                session.flush()
        except IntegrityError:
            found = session.scalar(select(Article).where(Article.slug == slug))
            if found is None:
                raise
        else:
            version = _add_version(session, article, 1, given, author_id, author, now)
            return Saved(article, version, True)
    current = current_version(session, found)
    if _same(current, given):
        return Saved(found, current, False)
    raise ArticleExists(
        f"an article {slug!r} exists (version {found.current_version}): edit it instead",
        slug=slug,
        current_version=found.current_version,
    )


def edit_article(
    session: Session,
    slug: str,
    given: ArticleIn,
    *,
    base_version: int,
    author_id: int | None,
    author: str,
    now: datetime,
) -> Saved:
    """Save `given` as the next version of the article, made from `base_version`. The same
    text as the current version writes nothing (`created` False); an edit from an older version
    than the current raises `StaleEdit` (compare-and-set on the current version, so of two
    editors at once one saves and the other is told). Flushes."""
    article = find(session, slug)
    current = current_version(session, article)
    if _same(current, given):
        return Saved(article, current, False)
    moved = session.execute(
        update(Article)
        .where(Article.id == article.id, Article.current_version == base_version)
        .values(current_version=base_version + 1, updated_at=now, **_current(given))
        .execution_options(synchronize_session=False)
    )
    if rowcount(moved) != 1:
        raise StaleEdit(
            f"{current.author} saved version {current.version} of {slug!r} after yours was"
            f" opened (version {base_version}): review it and edit again",
            slug=slug,
            current_version=current.version,
            author=current.author,
            at=current.at.isoformat(),
        )
    session.refresh(article)
    version = _add_version(session, article, base_version + 1, given, author_id, author, now)
    return Saved(article, version, True)


def _current(given: ArticleIn) -> dict[str, Any]:
    words = [getattr(given, f"{n}_{lang}") for n in TEXTS for lang in LANGUAGES]
    return {
        "category": given.category,
        "ivr_nodes": list(given.ivr_nodes),
        "title_zh": given.title_zh,
        "title_en": given.title_en,
        "search_text": normalise(" ".join([*words, given.keywords, given.category])),
    }


def _add_version(
    session: Session,
    article: Article,
    number: int,
    given: ArticleIn,
    author_id: int | None,
    author: str,
    now: datetime,
) -> ArticleVersion:
    version = ArticleVersion(
        article_id=article.id,
        version=number,
        note=given.note,
        author_id=author_id,
        author=author[:60],
        at=now,
        **given.content(),
    )
    session.add(version)
    session.flush()
    return version


def _same(version: ArticleVersion, given: ArticleIn) -> bool:
    return all(getattr(version, k) == v for k, v in given.content().items())


def find(session: Session, slug: str) -> Article:
    """The article named `slug`; `ArticleNotFound` if none. Read-only."""
    article = session.scalar(select(Article).where(Article.slug == slug))
    if article is None:
        raise ArticleNotFound(f"no article {slug!r}", slug=slug)
    return article


def current_version(session: Session, article: Article) -> ArticleVersion:
    return version_of(session, article, article.current_version)


def version_of(session: Session, article: Article, number: int) -> ArticleVersion:
    """One version of the article; `ArticleNotFound` if it has no such version. Read-only."""
    found = session.scalar(
        select(ArticleVersion).where(
            ArticleVersion.article_id == article.id, ArticleVersion.version == number
        )
    )
    if found is None:
        raise ArticleNotFound(
            f"{article.slug!r} has no version {number}", slug=article.slug, version=number
        )
    return found


def history(session: Session, article: Article) -> list[ArticleVersion]:
    """Every version of the article, newest first. Read-only."""
    return list(
        session.scalars(
            select(ArticleVersion)
            .where(ArticleVersion.article_id == article.id)
            .order_by(ArticleVersion.version.desc())
        )
    )


def _like(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search(
    session: Session, query: str, *, category: str | None = None, limit: int = 20
) -> list[Article]:
    """Articles whose normalised text has every word of `query` (and of `category`, if
    given), by category then slug; an empty query lists them all. Read-only."""
    stmt = select(Article)
    for word in normalise(query).split()[:10]:
        stmt = stmt.where(Article.search_text.like(_like(word), escape="\\"))
    if category:
        stmt = stmt.where(Article.category == category)
    return list(session.scalars(stmt.order_by(Article.category, Article.slug).limit(limit)))


def ivr_path(session: Session, call_id: int) -> list[str]:
    """The IVR menu nodes the call went through, in order (each once): the node answered at and
    the node each answer led to, from the call's "ivr" events. Read-only."""
    nodes: dict[str, None] = {}
    events = session.scalars(
        select(CallEvent)
        .where(CallEvent.call_id == call_id, CallEvent.kind == "ivr")
        .order_by(CallEvent.id)
    )
    for event in events:
        for key in ("answered_at", "node"):
            node = (event.data or {}).get(key)
            if node:
                nodes.pop(str(node), None)  # visited again: it counts where it was last
                nodes[str(node)] = None
    return list(nodes)


def call_id_of(session: Session, call_sid: str) -> int | None:
    """The id of the call Twilio knows as `call_sid`; None if there is none. Read-only."""
    return session.scalar(select(Call.id).where(Call.sid == call_sid))


def suggest(
    session: Session,
    *,
    categories: Sequence[str] = (),
    ivr_nodes: Sequence[str] = (),
    limit: int = 5,
) -> list[Suggestion]:
    """Articles for a call (read-only): those of the `categories` the keyword rules suggested
    (best first), and those naming a node of the caller's IVR path (`ivr_nodes`, in the order
    visited). Articles both point to come first, then the ones of the deepest IVR node, then
    by the rules' order, then by slug."""
    wanted_nodes = set(ivr_nodes)
    found = list(session.scalars(select(Article).order_by(Article.slug)))
    ranked: list[tuple[tuple[int, int, int, str], Suggestion]] = []
    for article in found:
        reasons: list[str] = []
        rank = len(categories)
        if article.category in categories:
            rank = list(categories).index(article.category)
            reasons.append(f"rules:{article.category}")
        matched = sorted(
            (list(ivr_nodes).index(n) for n in article.ivr_nodes or [] if n in wanted_nodes),
            reverse=True,
        )
        reasons += [f"ivr:{ivr_nodes[i]}" for i in matched]  # the deepest node first
        depth = matched[0] if matched else -1
        if reasons:
            key = (-len({r.partition(":")[0] for r in reasons}), -depth, rank, article.slug)
            ranked.append((key, Suggestion(article, tuple(reasons))))
    return [s for _, s in sorted(ranked, key=lambda pair: pair[0])[:limit]]


def as_json(article: Article, version: ArticleVersion) -> dict[str, Any]:
    """An article at one version as the JSON API gives it (pure)."""
    return {
        "slug": article.slug,
        "version": version.version,
        "current_version": article.current_version,
        "category": version.category,
        "title": {"zh": version.title_zh, "en": version.title_en},
        "answer": {"zh": version.answer_zh, "en": version.answer_en},
        "wording": {"zh": version.wording_zh, "en": version.wording_en},
        "policy_links": list(version.policy_links),
        "ivr_nodes": list(version.ivr_nodes),
        "keywords": version.keywords,
        "author": version.author,
        "at": version.at.isoformat(),
        "note": version.note,
    }
