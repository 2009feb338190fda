"""Tables of the knowledge base: an article (its stable slug and where it stands now) and every
version of it (the answer, the standard wording and the policy links in zh and en; who wrote
it and when). Versions are append-only: an edit is a new version, the history is kept."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base


class Article(Base):
    """One article of the knowledge base. `slug` never changes: QC scorecards and links name
    an article by it. The other columns copy the current version (what lists and searches
    read), `search_text` its normalised words (`knowledge.normalise`)."""

    __tablename__ = "kb_articles"
    __table_args__ = (Index("ix_kb_articles_category_slug", "category", "slug"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    category: Mapped[str] = mapped_column(String(40))
    #: The IVR menu nodes whose callers this article answers (ivr_menus/definitions).
    ivr_nodes: Mapped[list[str]] = mapped_column(JSON, default=list)
    title_zh: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str] = mapped_column(String(200))
    current_version: Mapped[int]
    search_text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    versions: Mapped[list[ArticleVersion]] = relationship(
        back_populates="article", order_by="ArticleVersion.version", cascade="all, delete-orphan"
    )


class ArticleVersion(Base):
    """One version of an article, as its author saved it; never changed afterwards."""

    __tablename__ = "kb_article_versions"
    __table_args__ = (UniqueConstraint("article_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("kb_articles.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int]
    category: Mapped[str] = mapped_column(String(40))
    ivr_nodes: Mapped[list[str]] = mapped_column(JSON, default=list)
    title_zh: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str] = mapped_column(String(200))
    #: The standard answer (what is true and what we do).
    answer_zh: Mapped[str] = mapped_column(Text)
    answer_en: Mapped[str] = mapped_column(Text)
    #: The standard wording an agent should use on the call (what QC listens for).
    wording_zh: Mapped[str] = mapped_column(Text)
    wording_en: Mapped[str] = mapped_column(Text)
    #: Links to policy: [{"title": ..., "url": ...}].
    policy_links: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    #: Extra words to be found by (synonyms callers use), both languages.
    keywords: Mapped[str] = mapped_column(String(400), default="")
    note: Mapped[str] = mapped_column(String(200), default="")  # what changed, in a line
    author_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    author: Mapped[str] = mapped_column(String(60))
    at: Mapped[datetime]

    article: Mapped[Article] = relationship(back_populates="versions")
