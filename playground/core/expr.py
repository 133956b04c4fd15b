"""A PPO reward written as one Python expression, checked against a whitelist and run by a small interpreter.

It lives in core (not stages/ppo) because config validation checks an expression before a job is queued.

    fn = compile_expression('-abs(n_tokens - 20) / 20 + 0.5 * ("please" in text.lower())')  # ConfigError if bad
    fn.score(text="Hello please", prompt="Say hi", n_tokens=3)                            # -> 0.35
    reward = make_expr_reward(expr)            # (prompts, responses, response_ids) -> scores, as PPO's rule rewards

Variables: text (the response), prompt (the last user message), n_tokens (response tokens), n_words,
n_chars, words (text.split()). Functions: abs min max len round float int str bool sum any all sqrt log exp.
Methods (on strings): lower upper strip count startswith endswith split find join; on lists: count.
Operators: + - * / // % ** (exponent at most 100), comparisons, in / not in, and / or / not, x if c else y,
indexing and slices, tuples / lists, and generator expressions `sum(len(w) for w in words)`.

Why not `eval` with empty builtins: `().__class__.__base__.__subclasses__()` reaches everything from a
literal, and `'a' * 10**9` or `9**9**9` stall the trainer. So the tree is checked node by node (anything not
on the list is refused with its column), constant parts are evaluated once at build time (so `9**9**9` fails
before the model loads), and the interpreter walks the tree itself with limits on number size, string /
list length and total work per response. Nothing from Python's object model is reachable: attribute access
exists only as a call of a listed method on a str or list value.

At run time a response whose evaluation fails (ZeroDivisionError, IndexError, a non-finite result...)
scores 0.0 and is counted; only a batch where every response fails raises DataError.
"""

from __future__ import annotations

import ast
import math
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playground.core.chat import prompt_text
from playground.core.errors import ConfigError, DataError

VARIABLES = ("text", "prompt", "n_tokens", "n_words", "n_chars", "words")
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs, "min": min, "max": max, "len": len, "round": round, "float": float, "int": int, "str": str,
    "bool": bool, "sum": sum, "any": any, "all": all, "sqrt": math.sqrt, "log": math.log, "exp": math.exp,
}
STR_METHODS = ("lower", "upper", "strip", "count", "startswith", "endswith", "split", "find", "join")
LIST_METHODS = ("count",)
EXAMPLES = {
    "about 20 tokens": "-abs(n_tokens - 20) / 20",
    "mentions please": '1.0 if "please" in text.lower() else 0.0',
    "short and no 'sorry'": 'max(0, 1 - n_words / 30) - ("sorry" in text.lower())',
    "ends a sentence": 'text.strip().endswith((".", "!", "?")) - 0.02 * abs(n_words - 15)',
}

MAX_SOURCE = 1000  # characters of expression
MAX_DEPTH = 100  # nesting: the checker and the interpreter recurse
MAX_POW = 100  # |exponent| of **
MAX_INT_BITS = 4096  # larger integers are refused before they are computed
MAX_LEN = 100_000  # characters of a string / items of a list made by the expression
# work per response: one unit per node evaluated, plus the length of each str / list made, searched or read by
# a method; a realistic expression over a few hundred words costs a few thousand
MAX_COST = 2_000_000

_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b, ast.FloorDiv: lambda a, b: a // b, ast.Mod: lambda a, b: a % b,
    ast.Pow: lambda a, b: a ** b,
}
_UNARY: dict[type, Callable[[Any], Any]] = {
    ast.USub: lambda a: -a, ast.UAdd: lambda a: +a, ast.Not: lambda a: not a, ast.Invert: lambda a: ~a,
}
_CMPS: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b, ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b, ast.Gt: lambda a, b: a > b, ast.GtE: lambda a, b: a >= b,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}
# what a refused node is called in the message
_NODE_NAMES = {
    ast.Lambda: "lambda", ast.ListComp: "a list comprehension (use a generator: sum(x for x in words))",
    ast.SetComp: "a set comprehension", ast.DictComp: "a dict comprehension", ast.Dict: "a dict", ast.Set: "a set",
    ast.NamedExpr: "':=' assignment", ast.JoinedStr: "an f-string", ast.Starred: "'*' unpacking",
    ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield",
}


class LimitError(ArithmeticError):
    """The expression would build a number, string or amount of work past the sandbox's limits."""


def _fail(node: ast.AST | None, reason: str) -> ConfigError:
    col = getattr(node, "col_offset", None)
    where = f" (column {col + 1})" if col is not None else ""
    return ConfigError(f"reward_expression: {reason}{where}")


# -- the whitelist -----------------------------------------------------------------------------------------
def _check(node: ast.AST, bound: frozenset[str], depth: int = 0) -> None:
    """Refuse any node not on the list, naming it; `bound` holds generator variables in scope."""
    if depth > MAX_DEPTH:
        raise _fail(node, f"the expression is nested too deeply (more than {MAX_DEPTH} levels)")
    d = depth + 1
    if isinstance(node, ast.Expression):
        _check(node.body, bound, d)
    elif isinstance(node, ast.Constant):
        if not isinstance(node.value, (int, float, str, bool)):
            raise _fail(node, f"the constant {node.value!r} is not allowed (numbers, strings, True/False)")
    elif isinstance(node, ast.Name):
        if node.id in FUNCTIONS:
            raise _fail(node, f"'{node.id}' is a function: call it, e.g. {node.id}(...)")
        if node.id not in VARIABLES and node.id not in bound:
            raise _fail(node, f"name '{node.id}' is not allowed (use: {', '.join(VARIABLES)})")
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _BINOPS:
            raise _fail(node, f"the operator {type(node.op).__name__} is not allowed (use + - * / // % **)")
        _check(node.left, bound, d)
        _check(node.right, bound, d)
    elif isinstance(node, ast.UnaryOp):
        _check(node.operand, bound, d)
    elif isinstance(node, ast.BoolOp):
        for v in node.values:
            _check(v, bound, d)
    elif isinstance(node, ast.Compare):
        for op in node.ops:
            if type(op) not in _CMPS:
                raise _fail(node, f"the comparison {type(op).__name__} is not allowed (use == != < <= > >= in)")
        for v in [node.left, *node.comparators]:
            _check(v, bound, d)
    elif isinstance(node, ast.IfExp):
        for v in (node.test, node.body, node.orelse):
            _check(v, bound, d)
    elif isinstance(node, (ast.Tuple, ast.List)):
        for v in node.elts:
            _check(v, bound, d)
    elif isinstance(node, ast.Subscript):
        _check(node.value, bound, d)
        _check(node.slice, bound, d)
    elif isinstance(node, ast.Slice):
        for v in (node.lower, node.upper, node.step):
            if v is not None:
                _check(v, bound, d)
    elif isinstance(node, ast.Call):
        if node.keywords:
            raise _fail(node, "keyword arguments are not allowed")
        if isinstance(node.func, ast.Name):
            if node.func.id not in FUNCTIONS:
                raise _fail(node, f"function '{node.func.id}' is not allowed (use: {', '.join(FUNCTIONS)})")
        elif isinstance(node.func, ast.Attribute):
            if node.func.attr not in STR_METHODS + LIST_METHODS:
                raise _fail(node.func, f"method '.{node.func.attr}()' is not allowed (use: {', '.join(STR_METHODS)})")
            _check(node.func.value, bound, d)
        else:
            raise _fail(node, "only the listed functions and string methods can be called")
        for a in node.args:
            _check(a, bound, d)
    elif isinstance(node, ast.Attribute):
        raise _fail(node, f"attribute '.{node.attr}' is not allowed (only calls of: {', '.join(STR_METHODS)})")
    elif isinstance(node, ast.GeneratorExp):
        inner = bound
        for gen in node.generators:
            if gen.is_async:
                raise _fail(node, "async generators are not allowed")
            _check(gen.iter, inner, d)
            if not isinstance(gen.target, ast.Name):
                raise _fail(gen.target, "a generator variable must be a plain name")
            name = gen.target.id
            if name.startswith("_") or name in FUNCTIONS or name in VARIABLES:
                raise _fail(gen.target, f"the generator variable '{name}' is not allowed (pick another name)")
            inner = inner | {name}
            for cond in gen.ifs:
                _check(cond, inner, d)
        _check(node.elt, inner, d)
    else:
        what = _NODE_NAMES.get(type(node), type(node).__name__)
        raise _fail(node, f"{what} is not allowed")


# -- the interpreter ---------------------------------------------------------------------------------------
class _Eval:
    """Walks a checked tree. Every operation that can grow a value is bounded before it runs."""

    def __init__(self, env: dict[str, Any]) -> None:
        self.env = env
        self.cost = 0

    def charge(self, n: int) -> None:
        self.cost += n
        if self.cost > MAX_COST:
            raise LimitError("the expression takes too much work for one response")

    def sized(self, value: Any) -> Any:
        if isinstance(value, (str, list, tuple)):
            if len(value) > MAX_LEN:
                raise LimitError(f"a string or list longer than {MAX_LEN} would be built")
            self.charge(len(value))
        elif isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
            raise LimitError(f"a number larger than 2**{MAX_INT_BITS} would be built")
        return value

    def run(self, node: ast.AST, scope: dict[str, Any]) -> Any:
        self.charge(1)
        if isinstance(node, ast.Expression):
            return self.run(node.body, scope)
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return scope[node.id] if node.id in scope else self.env[node.id]
        if isinstance(node, ast.BinOp):
            a, b = self.run(node.left, scope), self.run(node.right, scope)
            return self.sized(self.binop(type(node.op), a, b))
        if isinstance(node, ast.UnaryOp):
            return self.sized(_UNARY[type(node.op)](self.run(node.operand, scope)))
        if isinstance(node, ast.BoolOp):
            is_and = isinstance(node.op, ast.And)
            value: Any = None
            for v in node.values:
                value = self.run(v, scope)
                if bool(value) != is_and:  # `and` stops at the first falsy value, `or` at the first truthy one
                    return value
            return value
        if isinstance(node, ast.Compare):
            left = self.run(node.left, scope)
            for op, comp in zip(node.ops, node.comparators, strict=True):
                right = self.run(comp, scope)
                if isinstance(right, (str, list, tuple)) and isinstance(op, (ast.In, ast.NotIn)):
                    self.charge(len(right))  # a search reads the whole right side
                if not _CMPS[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.IfExp):
            return self.run(node.body if self.run(node.test, scope) else node.orelse, scope)
        if isinstance(node, ast.Tuple):
            return self.sized(tuple(self.run(v, scope) for v in node.elts))
        if isinstance(node, ast.List):
            return self.sized([self.run(v, scope) for v in node.elts])
        if isinstance(node, ast.Subscript):
            obj = self.run(node.value, scope)
            if not isinstance(obj, (str, list, tuple)):
                raise TypeError(f"only strings and lists can be indexed, not {type(obj).__name__}")
            return self.sized(obj[self.run(node.slice, scope)])
        if isinstance(node, ast.Slice):
            parts = [None if v is None else self.run(v, scope) for v in (node.lower, node.upper, node.step)]
            return slice(*parts)
        if isinstance(node, ast.Call):
            return self.sized(self.call(node, scope))
        if isinstance(node, ast.GeneratorExp):
            # evaluated eagerly into a list: every function that takes it (sum, any, max...) reads all of it
            return self.sized(list(self.generate(node.generators, node.elt, scope)))
        raise TypeError(f"{type(node).__name__} cannot be evaluated")  # unreachable after _check

    def binop(self, op: type, a: Any, b: Any) -> Any:
        num = (int, float)
        if op is ast.Pow:
            if not (isinstance(a, num) and isinstance(b, num)):
                raise TypeError("** needs two numbers")
            if abs(b) > MAX_POW:
                raise LimitError(f"exponent {b} is too large (at most {MAX_POW})")
            if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a).bit_length() * b > MAX_INT_BITS:
                raise LimitError(f"a number larger than 2**{MAX_INT_BITS} would be built")
        elif op is ast.Mult:
            seq, n = (a, b) if isinstance(a, (str, list, tuple)) else (b, a)
            if isinstance(seq, (str, list, tuple)):
                if not isinstance(n, int):
                    raise TypeError("a string or list can only be repeated an integer number of times")
                if isinstance(seq, (list, tuple)):
                    raise TypeError("lists cannot be repeated; strings can")
                if len(seq) * max(n, 0) > MAX_LEN:
                    raise LimitError(f"a string longer than {MAX_LEN} would be built")
            elif (isinstance(a, int) and isinstance(b, int)
                  and abs(a).bit_length() + abs(b).bit_length() > MAX_INT_BITS):
                raise LimitError(f"a number larger than 2**{MAX_INT_BITS} would be built")
        elif op is ast.Mod and isinstance(a, str):
            raise TypeError("'%' formatting of strings is not allowed")
        return _BINOPS[op](a, b)

    def call(self, node: ast.Call, scope: dict[str, Any]) -> Any:
        args = [self.run(a, scope) for a in node.args]
        if isinstance(node.func, ast.Name):
            name = node.func.id
            if name == "round" and len(args) > 1 and isinstance(args[1], int) and abs(args[1]) > 20:
                raise LimitError("round() takes at most 20 digits")  # round(5, -10**9) builds 10**10**9
            if name == "str" and args and not isinstance(args[0], (str, int, float, bool)):
                raise TypeError("str() takes a number or a string")  # str(list) is sized only after it is built
            if name == "sum" and not all(isinstance(x, (int, float)) for x in (args[0] if args else [])):
                raise TypeError("sum() adds numbers only")
            if name in ("sum", "min", "max", "any", "all", "len") and args and not isinstance(
                    args[0], (str, list, tuple, int, float, bool)):
                raise TypeError(f"{name}() needs a string, list or numbers")
            return FUNCTIONS[name](*args)
        assert isinstance(node.func, ast.Attribute)
        obj, method = self.run(node.func.value, scope), node.func.attr
        allowed = STR_METHODS if isinstance(obj, str) else LIST_METHODS if isinstance(obj, list) else ()
        if method not in allowed:  # a listed name, but on a value that has no such method in the sandbox
            raise TypeError(f"'.{method}()' cannot be called on {type(obj).__name__}")
        if method == "join":
            parts = args[0] if args else []
            if not isinstance(parts, (list, tuple)) or not all(isinstance(x, str) for x in parts):
                raise TypeError("join() takes a list of strings")
            # size it before it is built: a join of a long list by a long separator is quadratic memory
            if sum(map(len, parts)) + len(obj) * max(len(parts) - 1, 0) > MAX_LEN:
                raise LimitError(f"join() would build a string longer than {MAX_LEN}")
        self.charge(len(obj))  # every listed method reads the whole string / list: loops of them add up
        return getattr(obj, method)(*args)

    def generate(self, gens: list[ast.comprehension], elt: ast.AST, scope: dict[str, Any]) -> Any:
        if not gens:
            yield self.run(elt, scope)
            return
        first, rest = gens[0], gens[1:]
        items = self.run(first.iter, scope)
        if not isinstance(items, (str, list, tuple)):
            raise TypeError(f"a generator can only loop over a string or list, not {type(items).__name__}")
        name = first.target.id  # type: ignore[attr-defined]  # a Name, checked
        for item in items:
            inner = {**scope, name: item}
            if all(self.run(c, inner) for c in first.ifs):
                yield from self.generate(rest, elt, inner)


def _free_names(node: ast.AST) -> bool:
    """Whether the subtree reads a variable (so it can only be evaluated per response)."""
    return any(isinstance(n, (ast.Name, ast.GeneratorExp)) and not (isinstance(n, ast.Name) and n.id in FUNCTIONS)
               for n in ast.walk(node))


def _fold_constants(node: ast.AST, source: str) -> None:
    """Evaluate every largest part that reads no variable now: `9**9**9` or `1/0` fail at build time."""
    if isinstance(node, ast.Name):  # a variable, or a function name evaluated with its call
        return
    if isinstance(node, ast.expr) and not isinstance(node, ast.Attribute) and not _free_names(node):
        try:
            _Eval({}).run(node, {})
        except Exception as e:  # noqa: BLE001 - any failure of a constant part is the user's typo to fix now
            seg = ast.get_source_segment(source, node) or ""
            raise _fail(node, f"`{seg}` always fails: {_err(e)}") from None
        return
    for child in ast.iter_child_nodes(node):
        _fold_constants(child, source)


def _err(e: BaseException) -> str:
    msg = str(e).splitlines()[0][:160] if str(e) else ""
    return f"{type(e).__name__}: {msg}" if msg else type(e).__name__


def variables(text: str, prompt: str = "", n_tokens: int | None = None) -> dict[str, Any]:
    """The variable menu for one response (n_tokens defaults to the word count when no token ids are known)."""
    words = text.split()
    return {"text": text, "prompt": prompt, "n_tokens": len(words) if n_tokens is None else int(n_tokens),
            "n_words": len(words), "n_chars": len(text), "words": words}


REWARD_CLIP = 1000.0  # |score| above this is clipped: exp(n_tokens * 100) must not put inf / nan into PPO


class ClippedScore(float):
    """A score that was clipped to +-REWARD_CLIP (ExprReward counts and reports them)."""


def _as_score(value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    if not isinstance(value, (int, float)):
        raise TypeError(f"the expression gave {type(value).__name__}, not a number")
    try:
        out = float(value)
    except OverflowError:  # an int past float range
        out = math.copysign(math.inf, value)
    if math.isnan(out):
        raise ValueError("the expression gave nan")
    if abs(out) > REWARD_CLIP:
        return ClippedScore(math.copysign(REWARD_CLIP, out))
    return out


# a few responses to try a new expression on: a TypeError on every one of them is a TypeError on every response
_SAMPLES = [("", "Hi", 0), ("Sure! Here is a short answer.", "Say something", 8),
            ("The sea is calm tonight, and the moon is bright over the water.", "Describe the sea", 16)]


class RewardExpression:
    """A checked expression: `score(...)` evaluates it for one response (raises on failure)."""

    def __init__(self, source: str) -> None:
        self.source = (source or "").strip()
        tree = static_check(self.source)
        _fold_constants(tree.body, self.source)
        self.tree = tree
        self._try_samples()

    def _try_samples(self) -> None:
        errors = []
        for text, prompt, n in _SAMPLES:
            try:
                self.score(text, prompt, n)
                return
            except (TypeError, LimitError) as e:  # type errors do not depend on the response's content
                errors.append(e)
            except Exception:  # noqa: BLE001 - e.g. 1 / n_words on the empty sample: fine on real responses
                return
        raise ConfigError(f"reward_expression fails on every sample response: {_err(errors[0])}")

    def score(self, text: str, prompt: str = "", n_tokens: int | None = None) -> float:
        return _as_score(_Eval(variables(text, prompt, n_tokens)).run(self.tree, {}))


def compile_expression(source: str) -> RewardExpression:
    """Check and prepare an expression; ConfigError (one line, with the column) if it is not allowed."""
    return RewardExpression(source)


def static_check(source: str) -> ast.Expression:
    """Length, syntax and the node whitelist only: bounded work (MAX_SOURCE characters), safe anywhere."""
    source = (source or "").strip()
    if not source:
        raise ConfigError("reward_expression is empty: write one, e.g. -abs(n_tokens - 20) / 20")
    if len(source) > MAX_SOURCE:
        raise ConfigError(f"reward_expression is {len(source)} characters long (at most {MAX_SOURCE})")
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as e:
        # the parser reports offset 0 when the expression stops short (e.g. "n_words +")
        col = f" (column {e.offset})" if e.offset and e.offset <= len(source) else " (at the end)"
        raise ConfigError(f"reward_expression: invalid syntax: {e.msg}{col}") from None
    except (RecursionError, MemoryError, ValueError):
        raise ConfigError("reward_expression is nested too deeply") from None
    _check(tree, frozenset())
    return tree


# The evaluating half of a check (constant folding, sample responses) may cost seconds of CPU and some memory by
# design; in the web server it runs in a child process with a CPU, memory and wall-clock budget, two at a time.
CHECK_CPU_S = 3
CHECK_MEMORY_BYTES = 1 << 30
CHECK_WALL_S = 8.0
_CHECKS = threading.BoundedSemaphore(2)
_CHILD = (
    "import resource, sys\n"
    "resource.setrlimit(resource.RLIMIT_CPU, ({cpu}, {cpu}))\n"
    "resource.setrlimit(resource.RLIMIT_AS, ({mem}, {mem}))\n"
    "from playground.core.expr import check_expression\n"
    "sys.stdout.write(check_expression(sys.stdin.read(), isolated=False))\n"
)


def _check_in_child(source: str) -> str:
    if not _CHECKS.acquire(timeout=CHECK_WALL_S):
        return "reward_expression: the checker is busy; try again in a moment"
    try:
        code = _CHILD.format(cpu=CHECK_CPU_S, mem=CHECK_MEMORY_BYTES)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2]),
                                                            os.environ.get("PYTHONPATH", "")])}
        try:
            r = subprocess.run([sys.executable, "-c", code], input=source, capture_output=True, text=True,
                               timeout=CHECK_WALL_S, env=env)
        except subprocess.TimeoutExpired:
            return f"reward_expression: checking it took over {CHECK_WALL_S:g} s; make it do less work"
    finally:
        _CHECKS.release()
    if r.returncode != 0:
        tail = (r.stderr.strip().splitlines() or [""])[-1]
        if "MemoryError" in tail or r.returncode in (-9, 137):
            return "reward_expression: checking it needed too much memory; make it build smaller strings or lists"
        if r.returncode in (-24, 152) or "CPU" in tail:
            return f"reward_expression: checking it used over {CHECK_CPU_S} s of CPU; make it do less work"
        return f"reward_expression: the check failed ({tail[:160] or f'exit {r.returncode}'})"
    return r.stdout.strip()


def check_expression(source: str, isolated: bool = True) -> str:
    """'' when the expression is fine, else the one-line reason (the UI's live check and config validation).

    The static part runs here; the evaluating part runs in a budgeted child process unless `isolated` is False
    (the trainer, which is itself a child process, compiles the expression in place)."""
    try:
        static_check(source)
        if not isolated:
            compile_expression(source)
            return ""
    except ConfigError as e:
        return str(e)
    return _check_in_child(source)


class ExprReward:
    """The expression as a PPO reward function. `errors` / `scored` count responses over the whole run."""

    def __init__(self, source: str) -> None:
        self.expr = compile_expression(source)
        self.errors = 0
        self.scored = 0
        self.clipped = 0
        self.last_error = ""

    def __call__(self, prompts: list[Any], responses: list[str], response_ids: list[list[int]]) -> list[float]:
        scores, failed, first = [], 0, None
        for p, text, ids in zip(prompts, responses, response_ids, strict=True):
            try:
                scores.append(self.expr.score(text, prompt_text(p), len(ids)))
            except Exception as e:  # noqa: BLE001 - one bad response must not stop training: it scores 0
                scores.append(0.0)
                failed += 1
                first = first or e
        clipped = sum(isinstance(s, ClippedScore) for s in scores)
        if clipped:
            self.clipped += clipped
            print(f"reward_expression: {clipped}/{len(scores)} scores were beyond +-{REWARD_CLIP:g} and were clipped",
                  flush=True)
        scores = [float(s) for s in scores]
        self.scored += len(scores)
        self.errors += failed
        if first is not None:
            self.last_error = _err(first)
            if failed == len(scores):
                raise DataError(f"reward_expression failed on all {failed} responses of the batch; first error: "
                                f"{self.last_error}")
            print(f"reward_expression: {failed}/{len(scores)} responses failed and scored 0 "
                  f"(first: {self.last_error})", flush=True)
        return scores


def make_expr_reward(source: str) -> ExprReward:
    return ExprReward(source)
