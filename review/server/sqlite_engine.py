"""An Argilla search engine that answers from the server's own SQL tables (no Elasticsearch).

Registered as ``stepforge-sqlite``; the server picks it with ``ARGILLA_SEARCH_ENGINE=stepforge-
sqlite`` once this module is imported (``launch.py`` does that before the Argilla CLI runs).
Argilla creates an engine per request, so it keeps no state: the write hooks (index, update,
delete) are no-ops because the records, responses and suggestions are already in SQLite, and
every search loads the dataset's rows and filters, sorts and pages them in Python. That covers
what the UI and the SDK ask for (record listing, response-status filters per user, metadata,
suggestion and response filters and sorts, text search, progress and metadata metrics, vector
similarity) at the scale of a local server: tens of thousands of records per dataset.

Runs inside the argilla-server venv: import nothing from stepforge but ``matching``.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any, Iterable, List, Optional, Union
from uuid import UUID

from sqlalchemy import select

from argilla_server.database import AsyncSessionLocal
from argilla_server.enums import MetadataPropertyType, ResponseStatusFilter, SimilarityOrder
from argilla_server.models import (
    Dataset, MetadataProperty, Question, Record, Response, Suggestion, User, Vector, VectorSettings,
)
from argilla_server.search_engine.base import (
    AndFilter, FloatMetadataMetrics, IntegerMetadataMetrics, MetadataFilterScope, MetadataMetrics,
    Order, RangeFilter, RecordFilterScope, ResponseFilterScope, SearchEngine, SearchResponseItem,
    SearchResponses, SuggestionFilterScope, TermsFilter, TermsMetrics, TextQuery,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from matching import (  # noqa: E402
    as_number, as_values, cosine, multi_sort, range_match, terms_match, text_match,
)

ENGINE_NAME = "stepforge-sqlite"


@dataclasses.dataclass
class Doc:
    """One record as the engine sees it (the shape of an Argilla ES document)."""

    id: UUID
    external_id: Optional[str]
    status: str
    fields: dict
    metadata: dict
    inserted_at: Any
    updated_at: Any
    responses: list = dataclasses.field(default_factory=list)
    suggestions: dict = dataclasses.field(default_factory=dict)


def _text(value: Any) -> str:
    return str(getattr(value, "value", value))


def _scopes(filter: Any, sort: Optional[List[Order]]) -> list:
    scopes = [order.scope for order in sort or []]
    stack = [filter] if filter is not None else []
    while stack:
        item = stack.pop()
        if isinstance(item, AndFilter):
            stack.extend(item.filters)
        else:
            scopes.append(item.scope)
    return scopes


async def load_docs(dataset_id: UUID, responses: bool, suggestions: bool) -> list[Doc]:
    """The dataset's records, with their responses and suggestions when asked for."""
    async with AsyncSessionLocal() as db:
        rows = await db.execute(
            select(Record.id, Record.external_id, Record.status, Record.fields, Record.metadata_,
                   Record.inserted_at, Record.updated_at).where(Record.dataset_id == dataset_id))
        docs = {r[0]: Doc(r[0], r[1], _text(r[2]), r[3] or {}, r[4] or {}, r[5], r[6]) for r in rows}
        if responses:
            rows = await db.execute(
                select(Response.record_id, Response.user_id, Response.status, Response.values)
                .join(Record, Record.id == Response.record_id).where(Record.dataset_id == dataset_id))
            for record_id, user_id, status, values in rows:
                docs[record_id].responses.append(
                    {"user_id": str(user_id), "status": _text(status), "values": values or {}})
        if suggestions:
            rows = await db.execute(
                select(Suggestion.record_id, Question.name, Suggestion.value, Suggestion.score,
                       Suggestion.agent, Suggestion.type)
                .join(Question, Question.id == Suggestion.question_id)
                .join(Record, Record.id == Suggestion.record_id).where(Record.dataset_id == dataset_id))
            for record_id, name, value, score, agent, kind in rows:
                docs[record_id].suggestions[name] = {
                    "value": value, "score": score, "agent": agent,
                    "type": _text(kind) if kind is not None else None}
    return list(docs.values())


def _user_responses(doc: Doc, user: Optional[User]) -> list[dict]:
    if user is None:
        return doc.responses
    return [r for r in doc.responses if r["user_id"] == str(user.id)]


def scope_value(doc: Doc, scope: Any) -> Any:
    """The value(s) a filter or sort scope reads from a document."""
    if isinstance(scope, MetadataFilterScope):
        return doc.metadata.get(scope.metadata_property)
    if isinstance(scope, SuggestionFilterScope):
        return (doc.suggestions.get(scope.question) or {}).get(scope.property)
    if isinstance(scope, RecordFilterScope):
        value = getattr(doc, scope.property, None)
        return str(value) if isinstance(value, UUID) else value
    if isinstance(scope, ResponseFilterScope):
        responses = _user_responses(doc, scope.user)
        if scope.question:
            values = [(r["values"].get(scope.question) or {}).get("value") for r in responses]
            return [v for value in values for v in as_values(value)]
        return [r.get(scope.property) for r in responses]
    raise ValueError(f"cannot filter or sort on scope {scope!r}")


def _status_match(doc: Doc, filter: TermsFilter) -> bool:
    wanted = {_text(v) for v in filter.values}
    responses = _user_responses(doc, filter.scope.user)
    if ResponseStatusFilter.pending.value in wanted and not responses:
        return True
    return any(r["status"] in wanted for r in responses)


def matches(doc: Doc, filter: Any) -> bool:
    """Whether a document passes a filter tree."""
    if isinstance(filter, AndFilter):
        return all(matches(doc, f) for f in filter.filters)
    scope = filter.scope
    if isinstance(scope, ResponseFilterScope) and not scope.question and scope.property == "status":
        return _status_match(doc, filter)
    value = scope_value(doc, scope)
    if isinstance(filter, TermsFilter):
        return terms_match(value, filter.values)
    if isinstance(filter, RangeFilter):
        return range_match(value, filter.ge, filter.le)
    raise ValueError(f"unknown filter {filter!r}")


def _sort_value(doc: Doc, scope: Any) -> Any:
    value = scope_value(doc, scope)
    if isinstance(scope, ResponseFilterScope):
        numbers = [n for n in (as_number(v) for v in as_values(value)) if n is not None]
        return sum(numbers) / len(numbers) if numbers else (as_values(value) or None)
    return value


def _text_score(doc: Doc, dataset: Dataset, query: Union[TextQuery, str, None]) -> float:
    if query is None:
        return 1.0
    if isinstance(query, str):
        query = TextQuery(q=query)
    if query.field:
        if dataset.field_by_name(query.field) is None:
            raise ValueError(f"Field {query.field} not found in dataset {dataset.id}")
        texts = [doc.fields.get(query.field)]
    else:
        texts = list(doc.fields.values())
    return text_match(texts, query.q)


@SearchEngine.register(engine_name=ENGINE_NAME)
class SQLiteSearchEngine(SearchEngine):
    """Search answered from SQL; see the module docstring."""

    @classmethod
    async def new_instance(cls) -> "SQLiteSearchEngine":
        return cls()

    async def close(self):
        pass

    async def ping(self) -> bool:
        return True

    async def info(self) -> dict:
        return {"distribution": ENGINE_NAME, "version": "1"}

    # The SQL tables are the index: nothing to create, configure, write or delete.
    async def create_index(self, dataset: Dataset):
        pass

    async def delete_index(self, dataset: Dataset):
        pass

    async def configure_metadata_property(self, dataset: Dataset, metadata_property: MetadataProperty):
        pass

    async def configure_index_vectors(self, vector_settings: VectorSettings):
        pass

    async def index_records(self, dataset: Dataset, records: Iterable[Record]):
        pass

    async def partial_record_update(self, record: Record, **update):
        pass

    async def delete_records(self, dataset: Dataset, records: Iterable[Record]):
        pass

    async def update_record_response(self, response: Response):
        pass

    async def delete_record_response(self, response: Response):
        pass

    async def update_record_suggestion(self, suggestion: Suggestion):
        pass

    async def delete_record_suggestion(self, suggestion: Suggestion):
        pass

    async def get_dataset_progress(self, dataset: Dataset) -> dict:
        if dataset.is_draft:
            return {}
        docs = await load_docs(dataset.id, responses=False, suggestions=False)
        counts: dict[str, int] = {}
        for doc in docs:
            counts[doc.status] = counts.get(doc.status, 0) + 1
        return {"total": len(docs), **counts}

    async def get_dataset_user_progress(self, dataset: Dataset, user: User) -> dict:
        if dataset.is_draft:
            return {}
        docs = await load_docs(dataset.id, responses=True, suggestions=False)
        counts: dict[str, int] = {}
        for doc in docs:
            for response in _user_responses(doc, user):
                counts[response["status"]] = counts.get(response["status"], 0) + 1
        return {"total": sum(counts.values()), **counts}

    async def _candidates(self, dataset: Dataset, query: Any, filter: Any,
                          sort: Optional[List[Order]]) -> list[tuple[Doc, float]]:
        scopes = _scopes(filter, sort)
        docs = await load_docs(
            dataset.id,
            responses=any(isinstance(s, ResponseFilterScope) for s in scopes),
            suggestions=any(isinstance(s, SuggestionFilterScope) for s in scopes),
        )
        scored = [(doc, _text_score(doc, dataset, query)) for doc in docs]
        return [(d, s) for d, s in scored if s > 0 and (filter is None or matches(d, filter))]

    async def search(self, dataset: Dataset, query: Optional[Union[TextQuery, str]] = None,
                     filter: Optional[Any] = None, sort: Optional[List[Order]] = None,
                     offset: int = 0, limit: int = 100, user_id: Optional[str] = None) -> SearchResponses:
        hits = await self._candidates(dataset, query, filter, sort)
        keys = [(lambda h, sc=o.scope: _sort_value(h[0], sc), _text(o.order) == "desc") for o in sort or []]
        if not keys and query is not None:
            keys = [(lambda h: h[1], True)]
        # Ties (and no sort at all) fall back to insertion order: the order records were logged in.
        keys += [(lambda h: h[0].inserted_at, False), (lambda h: str(h[0].id), False)]
        ordered = multi_sort(hits, keys)
        page = ordered[offset:offset + limit]
        items = [SearchResponseItem(record_id=d.id, score=s if query is not None else None) for d, s in page]
        return SearchResponses(items=items, total=len(ordered))

    async def similarity_search(self, dataset: Dataset, vector_settings: VectorSettings,
                                value: Optional[List[float]] = None, record: Optional[Record] = None,
                                query: Optional[Union[TextQuery, str]] = None, filter: Optional[Any] = None,
                                max_results: int = 100, order: SimilarityOrder = SimilarityOrder.most_similar,
                                threshold: Optional[float] = None) -> SearchResponses:
        async with AsyncSessionLocal() as db:
            rows = (await db.execute(select(Vector.record_id, Vector.value)
                                     .where(Vector.vector_settings_id == vector_settings.id))).all()
        vectors = {record_id: vec for record_id, vec in rows}
        target = value if value is not None else vectors.get(record.id) if record is not None else None
        if target is None:
            return SearchResponses(items=[], total=0)
        hits = await self._candidates(dataset, query, filter, None)
        scored = [(d, cosine(target, vectors[d.id])) for d, _ in hits
                  if d.id in vectors and (record is None or d.id != record.id)]
        scored.sort(key=lambda h: h[1], reverse=_text(order) == _text(SimilarityOrder.most_similar))
        if threshold is not None:
            scored = [h for h in scored if h[1] >= threshold]
        items = [SearchResponseItem(record_id=d.id, score=s) for d, s in scored[:max_results]]
        return SearchResponses(items=items, total=len(items))

    async def compute_metrics_for(self, metadata_property: MetadataProperty) -> MetadataMetrics:
        docs = await load_docs(metadata_property.dataset_id, responses=False, suggestions=False)
        values = [v for d in docs for v in as_values(d.metadata.get(metadata_property.name))]
        kind = metadata_property.settings.get("type")
        if kind == MetadataPropertyType.terms:
            counts: dict[str, int] = {}
            for v in values:
                counts[str(v)] = counts.get(str(v), 0) + 1
            ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
            return TermsMetrics(total=len(values),
                                values=[TermsMetrics.TermCount(term=t, count=c) for t, c in ranked])
        numbers = [n for n in (as_number(v) for v in values) if n is not None]
        if kind == MetadataPropertyType.integer:
            return IntegerMetadataMetrics(min=int(min(numbers)) if numbers else None,
                                          max=int(max(numbers)) if numbers else None)
        return FloatMetadataMetrics(min=min(numbers) if numbers else None,
                                    max=max(numbers) if numbers else None)
