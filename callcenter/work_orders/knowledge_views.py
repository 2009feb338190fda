"""The knowledge base in the console (agents: the session): reading and searching articles, the
desk's suggestions as JSON, and the team leads' and manager's editor.

/knowledge/                             GET   the articles; search (q) and category filter
/knowledge/articles/<slug>              GET   an article's current version (?version=N: an
                                              earlier one) and its history: who, when, why
/knowledge/new                          GET   the form of a new article     (knowledge.edit)
/knowledge/articles                     POST  create it (slug, both languages) (knowledge.edit)
/knowledge/articles/<slug>/edit         GET   the form of the next version  (knowledge.edit)
/knowledge/articles/<slug>              POST  save the next version (base_version: the version
                                              the form was opened at)        (knowledge.edit)
/knowledge/api/articles                 GET   search as JSON (q, category)
/knowledge/api/articles/<slug>          GET   one article as JSON (?version=N)
/knowledge/api/suggestions              GET   articles for a call: text (what the caller said:
                                              the keyword rules' category), category (chosen
                                              already), call_id or call_sid (the IVR path)

Reading needs `knowledge.read` (every desk post), writing `knowledge.edit` (team leads, the
manager). A bad form comes back as the form with what was typed and the reason beside each
field (422); an edit made from an older version than the current one comes back with who saved
since (409); an API client gets the JSON error. Articles are named by their slug for good
(links, the desk, QC scorecards).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from callcenter import access
from callcenter.desk import auth
from callcenter.runtime import runtime
from work_orders import knowledge, rules

bp = Blueprint("knowledge", __name__, url_prefix="/knowledge", template_folder="templates")
access.require(bp, "knowledge.read")
access.require(bp, "knowledge.edit", "new_form", "create", "edit_form", "save")

STATUS = {
    "invalid-article": 422,
    "article-not-found": 404,
    "article-exists": 409,
    "article-edited": 409,
}


@bp.errorhandler(knowledge.KnowledgeError)
def _refused(exc: knowledge.KnowledgeError) -> ResponseReturnValue:
    status = STATUS.get(exc.code, 400)
    if _from_page() and status in (409, 422):
        slug = (request.view_args or {}).get("slug")
        page = _form_page(slug, dict(request.form), errors=exc.details, message=exc.message)
        return page, status
    return jsonify(error=exc.as_dict()), status


@bp.get("/")
def index() -> str:
    rt, q, category = runtime(), request.args.get("q", ""), request.args.get("category") or None
    with rt.session_factory() as db:
        found = knowledge.search(db, q, category=category, limit=200)
        return render_template(
            "knowledge/index.html", articles=found, q=q, category=category, **_common()
        )


@bp.get("/articles/<slug>")
def article(slug: str) -> str:
    rt = runtime()
    with rt.session_factory() as db:
        found = knowledge.find(db, slug)
        number = request.args.get("version", found.current_version, type=int)
        shown = knowledge.version_of(db, found, number)
        versions = knowledge.history(db, found)
        return render_template(
            "knowledge/article.html", article=found, shown=shown, versions=versions, **_common()
        )


@bp.get("/new")
def new_form() -> str:
    return _form_page(None, {}, errors={})


@bp.post("/articles")
def create() -> ResponseReturnValue:
    rt, form = runtime(), _form()
    with rt.unit_of_work() as uow:
        saved = knowledge.create_article(
            uow.session, str(form.get("slug", "")), _checked(form), **_author(), now=rt.clock()
        )
        body = knowledge.as_json(saved.article, saved.version)
    return _saved(body, 201 if saved.created else 200)


@bp.get("/articles/<slug>/edit")
def edit_form(slug: str) -> str:
    rt = runtime()
    with rt.session_factory() as db:
        found = knowledge.find(db, slug)
        values = _values(knowledge.current_version(db, found))
    return _form_page(slug, values, errors={})


@bp.post("/articles/<slug>")
def save(slug: str) -> ResponseReturnValue:
    rt, form = runtime(), _form()
    given, base = _checked(form), _base_version(form)
    with rt.unit_of_work() as uow:
        saved = knowledge.edit_article(
            uow.session, slug, given, base_version=base, **_author(), now=rt.clock()
        )
        body = knowledge.as_json(saved.article, saved.version)
    return _saved(body, 201 if saved.created else 200)


@bp.get("/api/articles")
def api_search() -> Response:
    rt, q, category = runtime(), request.args.get("q", ""), request.args.get("category") or None
    with rt.session_factory() as db:
        found = knowledge.search(db, q, category=category)
        return jsonify(articles=[_summary(a) for a in found])


@bp.get("/api/articles/<slug>")
def api_article(slug: str) -> Response:
    rt = runtime()
    with rt.session_factory() as db:
        found = knowledge.find(db, slug)
        number = request.args.get("version", found.current_version, type=int)
        return jsonify(article=knowledge.as_json(found, knowledge.version_of(db, found, number)))


@bp.get("/api/suggestions")
def api_suggestions() -> Response:
    rt, categories = runtime(), _categories_asked()
    with rt.session_factory() as db:
        call_id = _call_id(db)
        path = knowledge.ivr_path(db, call_id) if call_id is not None else []
        found = knowledge.suggest(db, categories=categories, ivr_nodes=path)
        return jsonify(
            suggestions=[_summary(s.article) | {"reasons": list(s.reasons)} for s in found],
            categories=categories,
            ivr_path=path,
        )


# --- helpers (parsing and rendering; no business rules) ------------------------------------


def _form() -> dict[str, Any]:
    data = request.get_json(silent=True) if request.is_json else None
    return dict(data) if isinstance(data, dict) else request.form.to_dict()


def _from_page() -> bool:
    """A form a page posted (not the JSON API): answer with the form again."""
    return not request.is_json and auth.CSRF_FIELD in request.form


def _checked(form: dict[str, Any]) -> knowledge.ArticleIn:
    rt = runtime()
    return knowledge.check(
        form, categories=rt.work_order_rules.categories, menu_nodes=rt.menus.nodes
    )


def _base_version(form: dict[str, Any]) -> int:
    value = str(form.get("base_version", "")).strip()
    if not value.isdigit():
        raise knowledge.InvalidArticle(
            "the edit does not say which version it was made from",
            base_version="the version the form was opened at (a number)",
        )
    return int(value)


def _author() -> dict[str, Any]:
    return {"author_id": g.staff.id, "author": g.staff.login}


def _saved(body: dict[str, Any], status: int) -> ResponseReturnValue:
    if _from_page():
        return redirect(url_for(".article", slug=body["slug"]), 303)
    return jsonify(article=body), status


def _categories_asked() -> list[str]:
    """The categories a call is about: those the desk names (`category`, chosen already),
    then the one the keyword rules suggest for `text`, if a rule matched."""
    named = [c for c in request.args.getlist("category") if c]
    text = request.args.get("text", "").strip()
    if text:
        suggestion = rules.suggest(text, runtime().work_order_rules)
        if suggestion.matched and suggestion.category not in named:
            named.append(suggestion.category)
    return named


def _call_id(db: Any) -> int | None:
    call_id = request.args.get("call_id", type=int)
    sid = request.args.get("call_sid", "").strip()
    return call_id if call_id is not None else (knowledge.call_id_of(db, sid) if sid else None)


def _summary(article: Any) -> dict[str, Any]:
    return {
        "slug": article.slug,
        "category": article.category,
        "title": {"zh": article.title_zh, "en": article.title_en},
        "version": article.current_version,
        "url": url_for(".api_article", slug=article.slug),
        "page": url_for(".article", slug=article.slug),
    }


def _values(version: Any) -> dict[str, Any]:
    """A version as its form's fields."""
    links = "\n".join(f"{link['title']} | {link['url']}" for link in version.policy_links)
    fields = [f"{n}_{lang}" for n in knowledge.TEXTS for lang in knowledge.LANGUAGES]
    return {
        **{f: getattr(version, f) for f in fields},
        "category": version.category,
        "policy_links": links,
        "ivr_nodes": " ".join(version.ivr_nodes),
        "keywords": version.keywords,
        "base_version": str(version.version),
    }


def _form_page(
    slug: str | None, values: dict[str, Any], *, errors: dict[str, Any], message: str = ""
) -> str:
    return render_template(
        "knowledge/edit.html",
        slug=slug,
        values=values,
        errors=errors,
        message=message,
        nodes=sorted(runtime().menus.nodes),
        **_common(),
    )


def _common() -> dict[str, Any]:
    rt = runtime()
    return {
        "staff": g.staff,
        "categories": rt.work_order_rules.categories,
        "can_edit": access.allowed(g.staff, "knowledge.edit"),
        "csrf": auth.csrf_token(),
        "timezone": rt.settings.timezone,
    }
