"""The template sandbox: authors write Jinja2, never Python.

Jinja2's `ImmutableSandboxedEnvironment` refuses attribute access to internals (``__class__``,
``__mro__``, ``format_map`` tricks) and mutation; `StrictUndefined` turns a misspelt variable into an
error instead of a blank in a million e-mails. Templates are checked on save: syntax, variables outside
the declared context, and sandbox violations, each with its line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, UndefinedError, meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.filters import do_urlencode
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from epistola.content.l10n import FILTERS
from epistola.errors import Problem, TemplateError

# What every message template may use, down to the fields. Extending it is a code change, on purpose;
# `None` means any key (customer.attributes holds whatever the sources supplied).
CONTEXT_SCHEMA: dict[str, frozenset[str] | None] = {
    "customer": frozenset(
        {
            "id",
            "first_name",
            "last_name",
            "full_name",
            "email",
            "gender",
            "locale",
            "country",
            "city",
            "region",
            "postcode",
            "birth_date",
            "age",  # whole years on the day of rendering, from birth_date
            "attributes",
        }
    ),
    "campaign": frozenset({"id", "name"}),
    "links": frozenset({"pixel", "preferences", "unsubscribe", "purl", "web"}),
    "message": frozenset({"id"}),
    "brand": frozenset({"name", "colour", "legal", "lang", "website", "phone"}),
    "today": None,
    "greeting": None,  # "Dear Ms Smith," / "Уважаемая Анна Ивановна!" / "Szanowna Pani," (content.l10n)
    "agent": frozenset({"name", "phone", "email"}),  # the customer's own agent or adviser, when known
    # A transactional document (statement, invoice); lines are {date, description, amount}.
    "document": frozenset(
        {"kind", "number", "date", "period_start", "period_end", "currency", "lines", "total", "due_date"}
    ),
}
# Values a customer record or a message may lack: printing them needs a fallback or a condition.
NULLABLE: frozenset[str] = frozenset(
    {f"customer.{f}" for f in CONTEXT_SCHEMA["customer"] or () if f not in ("id", "locale", "attributes")}
    | {f"links.{f}" for f in CONTEXT_SCHEMA["links"] or ()}
    | {f"agent.{f}" for f in CONTEXT_SCHEMA["agent"] or ()}
)
CONTEXT_VARIABLES = frozenset(CONTEXT_SCHEMA)
_BLOCKED_FILTERS = frozenset({"attr"})  # |attr reaches attributes by name, around the syntax checks


def _blank_none(value: Any) -> Any:
    """An empty value prints as nothing, never as the word ``None``."""
    return "" if value is None else value


# A plain dict has no attributes of its own beyond its class's, so any other name is a key lookup.
_DICT_ATTRIBUTES = frozenset(dir(dict))
# What `urllib.parse.quote` leaves alone (with Jinja's `safe="/"`): such a value needs no encoding.
_URL_SAFE = re.compile(r"[A-Za-z0-9_.\-~/]*")


def _urlencode(value: Any) -> str:
    """Jinja's `urlencode`, without encoding a value that has nothing to encode (most link parameters)."""
    if type(value) is str and _URL_SAFE.fullmatch(value):
        return value
    return str(do_urlencode(value))


class Sandbox(ImmutableSandboxedEnvironment):
    """A sandboxed environment with the filters Epistola offers (localisation included) and without `attr`.

    `generated` switches to the control-character delimiters of templates that `content.blocks` writes,
    so text that merely looks like Jinja (CSS in a layout, ``{{`` in a customer's name) stays text.
    """

    def __init__(self, *, autoescape: bool, generated: bool = False) -> None:
        delimiters: dict[str, Any] = {}
        if generated:
            delimiters = {
                "block_start_string": "\x02%",
                "block_end_string": "%\x03",
                "variable_start_string": "\x02{",
                "variable_end_string": "}\x03",
                "comment_start_string": "\x02#",
                "comment_end_string": "#\x03",
            }
        super().__init__(
            autoescape=autoescape,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            finalize=_blank_none,
            **delimiters,
        )
        for name in _BLOCKED_FILTERS:
            self.filters.pop(name, None)
        self.filters.update(FILTERS)
        self.filters["urlencode"] = _urlencode

    def getattr(self, obj: Any, attribute: str) -> Any:
        """`customer.city` on a context dict: the key, without the failed attribute lookup (and its
        exception) that the sandbox tries first; the same result, since a dict has no other attributes."""
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)


def _line_of(source: str, needle: str) -> int | None:
    for number, line in enumerate(source.splitlines(), start=1):
        if needle in line:
            return number
    return None


def _dunder_access(tree: nodes.Template) -> Iterable[tuple[str, int]]:
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        name = node.attr if isinstance(node, nodes.Getattr) else getattr(getattr(node, "arg", None), "value", None)
        if isinstance(name, str) and (name.startswith("_") or name in ("format_map", "mro", "gi_frame")):
            yield name, node.lineno


def check_template(source: str, *, name: str, allowed: Iterable[str] = CONTEXT_VARIABLES) -> None:
    """Raise `TemplateError` naming the line and the reason if `source` is unsafe or refers to unknowns."""
    env = Sandbox(autoescape=False)
    try:
        tree = env.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(
            f"template {name} has a syntax error",
            problems=[Problem(message=exc.message or "syntax error", file=name, row=exc.lineno)],
        ) from None
    problems = [
        Problem(message=f"access to {attr!r} is not allowed in templates", file=name, row=line)
        for attr, line in _dunder_access(tree)
    ]
    fields_unknown: list[Problem] = []
    for node in tree.find_all(nodes.Getattr):
        if isinstance(node.node, nodes.Name) and node.node.name in allowed:
            fields = CONTEXT_SCHEMA.get(node.node.name)
            if fields is not None and node.attr not in fields and not node.attr.startswith("_"):
                fields_unknown.append(
                    Problem(
                        message=f"{node.node.name}.{node.attr} does not exist; {node.node.name} has: "
                        f"{', '.join(sorted(fields))}",
                        file=name,
                        row=node.lineno,
                    )
                )
    for statement in tree.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends, nodes.Macro)):
        problems.append(
            Problem(
                message=f"{type(statement).__name__.lower()} is not available in templates "
                "(snippets are included by name)",
                file=name,
                row=statement.lineno,
            )
        )
    for flt in tree.find_all(nodes.Filter):
        if flt.name in _BLOCKED_FILTERS or flt.name not in env.filters:
            problems.append(Problem(message=f"filter {flt.name!r} is not available", file=name, row=flt.lineno))
    if not problems:  # finding variables compiles the template, which fails on the problems above
        problems = fields_unknown
        unknown = sorted(meta.find_undeclared_variables(tree) - set(allowed))
        problems.extend(
            Problem(
                message=f"unknown variable {var!r}; available: {', '.join(sorted(allowed))}",
                file=name,
                row=_line_of(source, var),
            )
            for var in unknown
        )
    else:
        problems.extend(fields_unknown)
    if problems:
        raise TemplateError(f"template {name} was rejected", problems=sorted(problems, key=lambda p: p.row or 0))


@contextmanager
def template_errors(name: str) -> Iterator[None]:
    """Turn sandbox and undefined-variable errors during rendering into `TemplateError` naming the template."""
    try:
        yield
    except SecurityError as exc:
        raise TemplateError(f"template {name} tried to leave the sandbox: {exc}") from None
    except UndefinedError as exc:
        raise TemplateError(f"template {name} uses a value the customer record does not have: {exc.message}") from None
    except OverflowError as exc:  # the sandbox's guard against huge ranges
        raise TemplateError(f"template {name} asked for too much work: {exc}") from None


def render(env: Sandbox, source: str, context: dict[str, Any], *, name: str) -> str:
    """Compile and render once (previews, validation); hot paths keep compiled templates instead."""
    with template_errors(name):
        return env.from_string(source).render(context)


# --- fallbacks: a value that may be empty is never printed bare ------------------------------------------


def _reference(node: nodes.Node) -> str | None:
    """``customer.city`` or ``customer.attributes.agent`` for attribute chains rooted in a context name."""
    names: list[str] = []
    while isinstance(node, nodes.Getattr | nodes.Getitem):
        key = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", None)
        if not isinstance(key, str):
            return None
        names.append(key)
        node = node.node
    if not isinstance(node, nodes.Name) or not names:
        return None
    return ".".join([node.name, *reversed(names)])


def _risky(reference: str | None) -> bool:
    if reference is None:
        return False
    return reference in NULLABLE or (reference.startswith("customer.attributes.") and reference.count(".") == 2)


def _references(node: nodes.Node) -> frozenset[str]:
    found = {_reference(n) for n in [node, *node.find_all((nodes.Getattr, nodes.Getitem))]}
    return frozenset(r for r in found if r)


def _unguarded(expr: nodes.Node, guarded: frozenset[str]) -> Iterator[tuple[str, int]]:
    if isinstance(expr, nodes.Filter) and expr.name in ("default", "d"):
        for arg in expr.args:
            yield from _unguarded(arg, guarded)
        return
    if isinstance(expr, nodes.Or):
        yield from _unguarded(expr.right, guarded)
        return
    if isinstance(expr, nodes.CondExpr):
        yield from _unguarded(expr.expr1, guarded | _references(expr.test))
        if expr.expr2 is not None:
            yield from _unguarded(expr.expr2, guarded)
        return
    if isinstance(expr, nodes.Test):
        return
    if isinstance(expr, nodes.Getattr | nodes.Getitem):
        reference = _reference(expr)
        if reference is not None:
            if _risky(reference) and reference not in guarded:
                yield reference, expr.lineno
            return
    for child in expr.iter_child_nodes():
        yield from _unguarded(child, guarded)


def _walk_outputs(node: nodes.Node, guarded: frozenset[str]) -> Iterator[tuple[str, int]]:
    if isinstance(node, nodes.If):
        for child in node.body:
            yield from _walk_outputs(child, guarded | _references(node.test))
        for branch in node.elif_:
            yield from _walk_outputs(branch, guarded)
        for child in node.else_:
            yield from _walk_outputs(child, guarded)
        return
    if isinstance(node, nodes.Output):
        for expr in node.nodes:
            if not isinstance(expr, nodes.TemplateData):
                yield from _unguarded(expr, guarded)
        return
    for child in node.iter_child_nodes():
        yield from _walk_outputs(child, guarded)


def missing_fallbacks(source: str, *, name: str) -> list[Problem]:
    """Values that may be empty (a customer without a city, a link a channel does not have) printed with
    neither a fallback (``or "…"``, ``|default("…")``) nor an enclosing ``{% if … %}``, with their lines."""
    tree = Sandbox(autoescape=False).parse(source)
    seen: set[tuple[str, int]] = set()
    problems: list[Problem] = []
    for reference, line in _walk_outputs(tree, frozenset()):
        if (reference, line) in seen:
            continue
        seen.add((reference, line))
        problems.append(
            Problem(
                message=f'{reference} may be empty: give a fallback ({{{{ {reference} or "…" }}}}) '
                f"or put it inside {{% if {reference} %}}",
                file=name,
                row=line,
            )
        )
    return problems


def render_shared(template: Template, context: dict[str, Any]) -> str:
    """Render without copying `context` or merging the environment's globals into it.

    `Template.render` copies the context and the globals on every call, which is a third of the cost of
    a short template; hot paths (a campaign renders millions) render into the prepared mapping directly.
    Templates see only what is in `context`: no `range`, `lipsum` or `cycler` (nothing a design needs).
    """
    return "".join(template.root_render_func(shared_context(template, context)))


def shared_context(template: Template, context: dict[str, Any]) -> Context:
    """`template.new_context(context, shared=True)` at a third of the cost: the same context, built without
    copying the globals' names, which only imports and macros read (templates have neither)."""
    env = template.environment
    return env.context_class(env, context, template.name, template.blocks)
