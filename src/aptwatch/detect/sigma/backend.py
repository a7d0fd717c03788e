"""aptwatch's pySigma backend: a rule's parsed condition -> the IR of `ir.py`.

Why our own backend and not pySigma-backend-duckdb: measured on SigmaHQ rules, the published
backend (0.1.4) compares case-sensitively, lets `_` and `%` in rule values act as LIKE
wildcards, and drops rows when a NOT covers a field the event lacks. Here every value
becomes a typed IR node; `sql.py` renders it with Sigma's semantics (docs/detections.md).
pySigma-backend-sqlite showed the shape: a backend is mostly one method per condition type.

pySigma does the hard parts we rely on: YAML -> typed rules, modifiers (contains, startswith,
endswith, all, base64, base64offset, wide/utf16*, windash, re with i/m/s, cidr, cased,
exists, fieldref, expand, gt/gte/lt/lte/neq, timestamp parts), condition parsing
(`1 of selection*`, `all of them`, ...), processing pipelines, filters and correlation rules.
"""

from __future__ import annotations

from typing import Any, ClassVar, cast

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.conversion.base import Backend
from sigma.conversion.state import ConversionState
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError, SigmaValueError
from sigma.rule import SigmaRule
from sigma.types import (
    CompareOperators,
    Placeholder,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaFieldReference,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaTimestampPart,
    SpecialChars,
)

from aptwatch.detect.sigma import ir

_OPS = {CompareOperators.LT: "<", CompareOperators.LTE: "<=", CompareOperators.GT: ">",
        CompareOperators.GTE: ">=", CompareOperators.NEQ: "!="}
_FLAGS = {SigmaRegularExpressionFlag.IGNORECASE: "i", SigmaRegularExpressionFlag.MULTILINE: "m",
          SigmaRegularExpressionFlag.DOTALL: "s"}


def string_parts(s: SigmaString) -> tuple[ir.Part, ...]:
    """SigmaString -> literal text and wildcards; an unresolved placeholder is an error."""
    out: list[ir.Part] = []
    for p in s.s:
        if isinstance(p, str):
            if out and isinstance(out[-1], str):
                out[-1] = out[-1] + p
            else:
                out.append(p)
        elif p is SpecialChars.WILDCARD_MULTI:
            if not (out and out[-1] is ir.Wild.ANY):  # "**" is "*"
                out.append(ir.Wild.ANY)
        elif p is SpecialChars.WILDCARD_SINGLE:
            out.append(ir.Wild.ONE)
        elif isinstance(p, Placeholder):
            raise SigmaValueError(f"placeholder %{p.name}% has no value (give it in a placeholders file, "
                                  "see docs/detections.md)")
        else:  # pragma: no cover - pySigma adds a part type
            raise SigmaFeatureNotSupportedByBackendError(f"unknown string part {p!r}")
    return tuple(out)


class AptwatchBackend(Backend):
    """Converts each rule condition to an `ir.Node`; `convert_rule` returns one node per condition."""

    name: ClassVar[str] = "aptwatch DuckDB backend"
    formats: ClassVar[dict[str, str]] = {"default": "aptwatch condition tree (rendered to DuckDB SQL per table)"}
    requires_pipeline: ClassVar[bool] = False
    # Field-less values (keywords) and placeholders are handled here; no IN-expressions needed.
    convert_or_as_in: ClassVar[bool] = False
    convert_and_as_in: ClassVar[bool] = False

    # -- boolean structure --------------------------------------------------------------
    def convert_condition_as_in_expression(self, cond: ConditionOR | ConditionAND,
                                           state: ConversionState) -> Any:  # pragma: no cover - disabled
        raise NotImplementedError

    def convert_condition_or(self, cond: ConditionOR, state: ConversionState) -> ir.Node:
        return ir.or_([self.convert_condition(a, state) for a in cond.args])

    def convert_condition_and(self, cond: ConditionAND, state: ConversionState) -> ir.Node:
        return ir.and_([self.convert_condition(a, state) for a in cond.args])

    def convert_condition_not(self, cond: ConditionNOT, state: ConversionState) -> ir.Node:
        return ir.not_(self.convert_condition(cond.args[0], state))

    # -- field = value ------------------------------------------------------------------
    @staticmethod
    def _field(cond: ConditionFieldEqualsValueExpression) -> str:
        if not cond.field:
            raise SigmaValueError("detection item without a field name")
        return str(cond.field)

    def convert_condition_field_eq_val_str(self, cond: ConditionFieldEqualsValueExpression,
                                           state: ConversionState) -> ir.Node:
        return ir.Str(self._field(cond), string_parts(cast(SigmaString, cond.value)), False)

    def convert_condition_field_eq_val_str_case_sensitive(self, cond: ConditionFieldEqualsValueExpression,
                                                          state: ConversionState) -> ir.Node:
        return ir.Str(self._field(cond), string_parts(cast(SigmaString, cond.value)), True)

    def convert_condition_field_eq_val_num(self, cond: ConditionFieldEqualsValueExpression,
                                           state: ConversionState) -> ir.Node:
        v = cast(SigmaNumber, cond.value)
        return ir.Num(self._field(cond), v.number)

    def convert_condition_field_eq_val_timestamp_part(self, cond: ConditionFieldEqualsValueExpression,
                                                      state: ConversionState) -> ir.Node:
        v = cast(SigmaTimestampPart, cond.value)
        return ir.TimePart(self._field(cond), v.timestamp_part.name.lower(), int(v.number))

    def convert_condition_field_eq_val_bool(self, cond: ConditionFieldEqualsValueExpression,
                                            state: ConversionState) -> ir.Node:
        v = cast(SigmaBool, cond.value)
        return ir.Bool(self._field(cond), bool(v.boolean))

    def convert_condition_field_eq_val_re(self, cond: ConditionFieldEqualsValueExpression,
                                          state: ConversionState) -> ir.Node:
        v = cast(SigmaRegularExpression, cond.value)
        return ir.Re(self._field(cond), _regex_text(v), "".join(sorted(_FLAGS[f] for f in v.flags)))

    def convert_condition_field_eq_val_cidr(self, cond: ConditionFieldEqualsValueExpression,
                                            state: ConversionState) -> ir.Node:
        v = cast(SigmaCIDRExpression, cond.value)
        field = self._field(cond)
        return ir.or_([ir.Str(field, string_parts(SigmaString(p)), False) for p in v.expand(wildcard="*")])

    def convert_condition_field_compare_op_val(self, cond: ConditionFieldEqualsValueExpression,
                                               state: ConversionState) -> ir.Node:
        v = cast(SigmaCompareExpression, cond.value)
        return ir.Cmp(self._field(cond), _OPS[v.op], v.number.number)

    def convert_condition_field_eq_field(self, cond: ConditionFieldEqualsValueExpression,
                                         state: ConversionState) -> ir.Node:
        v = cast(SigmaFieldReference, cond.value)
        mode = {(False, False): "eq", (True, False): "prefix", (False, True): "suffix",
                (True, True): "contains"}[(bool(v.starts_with), bool(v.ends_with))]
        return ir.FieldRef(self._field(cond), v.field, mode)

    def convert_condition_field_eq_val_null(self, cond: ConditionFieldEqualsValueExpression,
                                            state: ConversionState) -> ir.Node:
        return ir.Null(self._field(cond))

    def convert_condition_field_exists(self, cond: ConditionFieldEqualsValueExpression,
                                       state: ConversionState) -> ir.Node:
        return ir.Exists(self._field(cond))

    def convert_condition_field_not_exists(self, cond: ConditionFieldEqualsValueExpression,
                                           state: ConversionState) -> ir.Node:
        return ir.not_(ir.Exists(self._field(cond)))

    def convert_condition_field_eq_val_exists(self, cond: ConditionFieldEqualsValueExpression,
                                              state: ConversionState) -> ir.Node:
        v = cast(SigmaExists, cond.value)
        node = ir.Exists(self._field(cond))
        return node if v.exists else ir.not_(node)

    def convert_condition_field_eq_query_expr(self, cond: ConditionFieldEqualsValueExpression,
                                              state: ConversionState) -> Any:
        raise SigmaFeatureNotSupportedByBackendError("query-expression placeholders are not supported; "
                                                     "give placeholder values in a placeholders file")

    # -- keywords (field-less values): matched against every field of the event ----------
    def convert_condition_val(self, cond: ConditionValueExpression, state: ConversionState) -> Any:
        from sigma.types import SigmaExpansion

        if isinstance(cond.value, SigmaExpansion):  # |windash, |base64offset on keywords
            return ir.or_([self.convert_condition_val(ConditionValueExpression(v), state)
                           for v in cond.value.values])
        return super().convert_condition_val(cond, state)

    def convert_condition_val_str(self, cond: ConditionValueExpression, state: ConversionState) -> ir.Node:
        parts = string_parts(cast(SigmaString, cond.value))
        # a keyword is "contained somewhere": wrap in * unless the rule already did
        if not parts or parts[0] is not ir.Wild.ANY:
            parts = (ir.Wild.ANY, *parts)
        if parts[-1] is not ir.Wild.ANY:
            parts = (*parts, ir.Wild.ANY)
        return ir.Str(None, parts, isinstance(cond.value, SigmaCasedString))

    def convert_condition_val_num(self, cond: ConditionValueExpression, state: ConversionState) -> ir.Node:
        return ir.Str(None, (ir.Wild.ANY, str(cast(SigmaNumber, cond.value).number), ir.Wild.ANY), False)

    def convert_condition_val_re(self, cond: ConditionValueExpression, state: ConversionState) -> ir.Node:
        v = cast(SigmaRegularExpression, cond.value)
        return ir.Re(None, _regex_text(v), "".join(sorted(_FLAGS[f] for f in v.flags)))

    def convert_condition_query_expr(self, cond: ConditionValueExpression, state: ConversionState) -> Any:
        raise SigmaFeatureNotSupportedByBackendError("query-expression placeholders are not supported")

    # -- correlation rules are evaluated in the store over stored matches (correlation.py) --
    def _correlation_elsewhere(self) -> Any:
        raise SigmaFeatureNotSupportedByBackendError(
            "correlation rules are evaluated by aptwatch.detect.sigma.correlation over stored matches")

    def convert_correlation_event_count_rule(self, *a: Any, **k: Any) -> Any:
        return self._correlation_elsewhere()

    def convert_correlation_value_count_rule(self, *a: Any, **k: Any) -> Any:
        return self._correlation_elsewhere()

    def convert_correlation_temporal_rule(self, *a: Any, **k: Any) -> Any:
        return self._correlation_elsewhere()

    def convert_correlation_temporal_ordered_rule(self, *a: Any, **k: Any) -> Any:
        return self._correlation_elsewhere()

    def convert_correlation_extended_temporal_rule(self, *a: Any, **k: Any) -> Any:
        return self._correlation_elsewhere()

    def convert_correlation_extended_temporal_ordered_rule(self, *a: Any, **k: Any) -> Any:
        return self._correlation_elsewhere()

    def convert_correlation_value_sum_rule(self, *a: Any, **k: Any) -> Any:
        return self._correlation_elsewhere()

    def convert_correlation_value_avg_rule(self, *a: Any, **k: Any) -> Any:
        return self._correlation_elsewhere()

    def convert_correlation_value_percentile_rule(self, *a: Any, **k: Any) -> Any:
        return self._correlation_elsewhere()

    def convert_correlation_value_median_rule(self, *a: Any, **k: Any) -> Any:
        return self._correlation_elsewhere()

    # -- results ------------------------------------------------------------------------
    def finalize_query_default(self, rule: Any, query: Any, index: int, state: ConversionState) -> Any:
        return query

    def finalize_output_default(self, queries: list[Any]) -> Any:
        return queries

    def to_ir(self, rule: SigmaRule) -> tuple[ir.Node, dict[str, Any]]:
        """Apply the pipeline and convert; several conditions of one rule are OR-ed (Sigma spec).

        Returns the tree and the processing state the pipeline left (routing decided from the
        rule's log source, see `pipeline.py`).
        """
        self.convert_rule(rule)
        # the conversion result, also for rules only correlations use (convert_rule returns [] then)
        nodes = rule.get_conversion_result()
        states = rule.get_conversion_states()
        state = dict(states[0].processing_state) if states else {}
        return ir.or_(list(nodes)), state


def _regex_text(v: SigmaRegularExpression) -> str:
    parts = v.regexp.s
    if any(isinstance(p, Placeholder) for p in parts):
        raise SigmaValueError("placeholder inside a regular expression has no value")
    return str(v.regexp.to_plain())
