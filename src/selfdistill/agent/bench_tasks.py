'''The agent bench's tasks: tiny repositories, each with a hidden check (issue 34 item 2).

Every task is data: the workspace files (a few modules, their unittest tests -- the sandbox
has no pytest -- and a README), the task text the agent gets, a hidden check and a
reference solution. The check is a Python program run in the sandbox on a copy of the
workspace after the agent stops (exit 0 = success; the agent never sees it), or, for
questions, a regular expression the final answer must match. `tests/agent/test_bench.py`
checks that every hidden check fails on the untouched workspace and passes once the
reference solution is applied.
'''

from __future__ import annotations

from dataclasses import dataclass, field

README_TESTS = "Run the tests with `python3 -m unittest` (pytest is not installed).\n"


@dataclass(frozen=True)
class BenchTask:
    """One bench task: workspace files, the task text, the hidden check, a reference."""

    id: str
    kind: str
    prompt: str
    files: dict[str, str]
    check: str = ""  # Python run in the sandbox in a copy of the workspace; exit 0 = success
    pattern: str = ""  # for questions: a regex (case-insensitive) the final answer must match
    reference: dict[str, str] = field(default_factory=dict)  # files written by the reference
    reference_answer: str = ""


# Helpers every check can use (prepended to the check program).
CHECK_PRELUDE = '''\
import pathlib, re, subprocess, sys
def sh(*args):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=30)
def unittest_ok():
    r = sh(sys.executable, "-m", "unittest")
    return r.returncode == 0 and "Ran 0 tests" not in r.stderr
def py_text():
    return "\\n".join(p.read_text() for p in sorted(pathlib.Path(".").rglob("*.py"))
                     if p.name != "_selfdistill_check.py")
'''


def _readme(title: str, body: str) -> str:
    return f"# {title}\n\n{body}\n\n{README_TESTS}"


def _unit(module: str, body: str) -> str:
    return f"import unittest\n\nimport {module}\n\n\nclass Test(unittest.TestCase):\n{body}"


TASKS: list[BenchTask] = []


def _add(*tasks: BenchTask) -> None:
    TASKS.extend(tasks)


# ------------------------------------------------------------------ fix a bug a test exposes
_add(
    BenchTask(
        "fix-mean", "fix_bug",
        "The test test_mean in test_mathx.py fails. Find the bug in mathx.py and fix it, then "
        "run the tests.",
        {"README.md": _readme("mathx", "Small maths helpers."),
         "mathx.py": "def mean(xs):\n    return sum(xs) / (len(xs) - 1)\n",
         "test_mathx.py": _unit("mathx", "    def test_mean(self):\n"
                                "        self.assertEqual(mathx.mean([1, 2, 3]), 2)\n")},
        "import mathx\nassert mathx.mean([1, 2, 3]) == 2 and mathx.mean([5]) == 5\n"
        "assert unittest_ok()\n",
        reference={"mathx.py": "def mean(xs):\n    return sum(xs) / len(xs)\n"}),
    BenchTask(
        "fix-clamp", "fix_bug",
        "test_clamp in test_util.py fails. Fix clamp in util.py so the tests pass.",
        {"README.md": _readme("util", "clamp(x, lo, hi) limits x to the range [lo, hi]."),
         "util.py": "def clamp(x, lo, hi):\n    return max(lo, min(x, lo))\n",
         "test_util.py": _unit("util", "    def test_clamp(self):\n"
                               "        self.assertEqual(util.clamp(5, 0, 10), 5)\n"
                               "        self.assertEqual(util.clamp(-1, 0, 10), 0)\n"
                               "        self.assertEqual(util.clamp(11, 0, 10), 10)\n")},
        "import util\nassert [util.clamp(x, 2, 4) for x in (1, 3, 9)] == [2, 3, 4]\n"
        "assert unittest_ok()\n",
        reference={"util.py": "def clamp(x, lo, hi):\n    return max(lo, min(x, hi))\n"}),
    BenchTask(
        "fix-palindrome", "fix_bug",
        "The tests in test_text.py fail: is_palindrome in text.py says 'abc' is a palindrome. "
        "Fix the bug.",
        {"README.md": _readme("text", "is_palindrome ignores case and punctuation."),
         "text.py": "def is_palindrome(s):\n    cleaned = [c.lower() for c in s if c.isalnum()]\n"
                    "    return cleaned == cleaned[::1]\n",
         "test_text.py": _unit("text", "    def test_palindrome(self):\n"
                               "        self.assertTrue(text.is_palindrome('Never odd or even'))\n"
                               "        self.assertFalse(text.is_palindrome('abc'))\n")},
        "import text\nassert text.is_palindrome('A man, a plan, a canal: Panama')\n"
        "assert not text.is_palindrome('ab')\nassert unittest_ok()\n",
        reference={"text.py": "def is_palindrome(s):\n"
                              "    cleaned = [c.lower() for c in s if c.isalnum()]\n"
                              "    return cleaned == cleaned[::-1]\n"}),
    BenchTask(
        "fix-fizzbuzz", "fix_bug",
        "fizzbuzz(15) returns 'Fizz' instead of 'FizzBuzz' (see test_fizz.py). Fix fizz.py.",
        {"README.md": _readme("fizz", "fizzbuzz(n): 'Fizz' for multiples of 3, 'Buzz' for 5, "
                              "'FizzBuzz' for both, else the number as a string."),
         "fizz.py": "def fizzbuzz(n):\n    if n % 3 == 0:\n        return 'Fizz'\n"
                    "    if n % 5 == 0:\n        return 'Buzz'\n    if n % 15 == 0:\n"
                    "        return 'FizzBuzz'\n    return str(n)\n",
         "test_fizz.py": _unit("fizz", "    def test_fizzbuzz(self):\n"
                               "        self.assertEqual(fizz.fizzbuzz(15), 'FizzBuzz')\n"
                               "        self.assertEqual(fizz.fizzbuzz(9), 'Fizz')\n")},
        "import fizz\nassert [fizz.fizzbuzz(i) for i in (3, 5, 30, 7)] == "
        "['Fizz', 'Buzz', 'FizzBuzz', '7']\nassert unittest_ok()\n",
        reference={"fizz.py": "def fizzbuzz(n):\n    if n % 15 == 0:\n        return 'FizzBuzz'\n"
                              "    if n % 3 == 0:\n        return 'Fizz'\n    if n % 5 == 0:\n"
                              "        return 'Buzz'\n    return str(n)\n"}),
    BenchTask(
        "fix-count-words", "fix_bug",
        "count_words in counter.py miscounts text with several spaces between words; "
        "test_counter.py shows it. Fix it and run the tests.",
        {"README.md": _readme("counter", "count_words(text) counts whitespace-separated words."),
         "counter.py": "def count_words(text):\n    return len(text.split(' '))\n",
         "test_counter.py": _unit("counter", "    def test_spaces(self):\n"
                                  "        self.assertEqual(counter.count_words('a  b'), 2)\n")},
        "import counter\nassert counter.count_words(' one two\\tthree ') == 3\n"
        "assert unittest_ok()\n",
        reference={"counter.py": "def count_words(text):\n    return len(text.split())\n"}),
)

# ------------------------------------------------------------- add a function and its test
_add(
    BenchTask(
        "add-median", "add_function",
        "Add a function median(xs) to stats.py that returns the median of a non-empty list of "
        "numbers, and add a test for it to test_stats.py.",
        {"README.md": _readme("stats", "Statistics helpers."),
         "stats.py": "def mean(xs):\n    return sum(xs) / len(xs)\n",
         "test_stats.py": _unit("stats", "    def test_mean(self):\n"
                                "        self.assertEqual(stats.mean([2, 4]), 3)\n")},
        "import stats\nassert stats.median([3, 1, 2]) == 2\n"
        "assert stats.median([4, 1, 3, 2]) == 2.5\n"
        "assert 'median' in pathlib.Path('test_stats.py').read_text()\nassert unittest_ok()\n",
        reference={"stats.py": "def mean(xs):\n    return sum(xs) / len(xs)\n\n\n"
                               "def median(xs):\n    s = sorted(xs)\n    m = len(s) // 2\n"
                               "    return s[m] if len(s) % 2 else (s[m - 1] + s[m]) / 2\n",
                   "test_stats.py": _unit("stats", "    def test_mean(self):\n"
                                          "        self.assertEqual(stats.mean([2, 4]), 3)\n\n"
                                          "    def test_median(self):\n"
                                          "        self.assertEqual(stats.median([3, 1, 2]), 2)\n")}),
    BenchTask(
        "add-slugify", "add_function",
        "Add slugify(title) to text.py: lower-case, every run of characters that are not "
        "letters or digits becomes one '-', no '-' at either end (slugify('Hello, World!') == "
        "'hello-world'). Add a test for it to test_text.py.",
        {"README.md": _readme("text", "Text helpers."),
         "text.py": "def shout(s):\n    return s.upper() + '!'\n",
         "test_text.py": _unit("text", "    def test_shout(self):\n"
                               "        self.assertEqual(text.shout('hi'), 'HI!')\n")},
        "import text\nassert text.slugify('Hello, World!') == 'hello-world'\n"
        "assert text.slugify('  A -- b 2 ') == 'a-b-2'\n"
        "assert 'slugify' in pathlib.Path('test_text.py').read_text()\nassert unittest_ok()\n",
        reference={"text.py": "import re\n\n\ndef shout(s):\n    return s.upper() + '!'\n\n\n"
                              "def slugify(title):\n"
                              "    return re.sub(r'[^a-z0-9]+', '-', title.lower()).strip('-')\n",
                   "test_text.py": _unit("text", "    def test_slugify(self):\n"
                                         "        self.assertEqual(text.slugify('A b'), 'a-b')\n")}),
    BenchTask(
        "add-is-prime", "add_function",
        "Add is_prime(n) to intutil.py (True for primes, False for n < 2 and composites) and a "
        "test for it in test_intutil.py.",
        {"README.md": _readme("intutil", "Integer helpers."),
         "intutil.py": "def is_even(n):\n    return n % 2 == 0\n",
         "test_intutil.py": _unit("intutil", "    def test_even(self):\n"
                                  "        self.assertTrue(intutil.is_even(4))\n")},
        "import intutil as nm\nassert [n for n in range(-3, 30) if nm.is_prime(n)] == "
        "[2, 3, 5, 7, 11, 13, 17, 19, 23, 29]\n"
        "assert 'is_prime' in pathlib.Path('test_intutil.py').read_text()\n"
        "assert unittest_ok()\n",
        reference={"intutil.py": "def is_even(n):\n    return n % 2 == 0\n\n\n"
                                 "def is_prime(n):\n"
                                 "    return n > 1 and all(n % d for d in range(2, int(n ** 0.5) + 1))\n",
                   "test_intutil.py": _unit("intutil", "    def test_prime(self):\n"
                                            "        self.assertTrue(intutil.is_prime(7))\n")}),
    BenchTask(
        "add-flatten", "add_function",
        "Add flatten(lists) to lists.py: it joins a list of lists into one list "
        "(flatten([[1], [2, 3]]) == [1, 2, 3]). Add a test to test_lists.py.",
        {"README.md": _readme("lists", "List helpers."),
         "lists.py": "def first(xs):\n    return xs[0]\n",
         "test_lists.py": _unit("lists", "    def test_first(self):\n"
                                "        self.assertEqual(lists.first([4, 5]), 4)\n")},
        "import lists\nassert lists.flatten([[1], [], [2, 3]]) == [1, 2, 3]\n"
        "assert lists.flatten([]) == []\n"
        "assert 'flatten' in pathlib.Path('test_lists.py').read_text()\nassert unittest_ok()\n",
        reference={"lists.py": "def first(xs):\n    return xs[0]\n\n\n"
                               "def flatten(lists):\n    return [x for xs in lists for x in xs]\n",
                   "test_lists.py": _unit("lists", "    def test_flatten(self):\n"
                                          "        self.assertEqual(lists.flatten([[1], [2]]), [1, 2])\n")}),
)

# ------------------------------------------------------------------ rename across files
_GREET = "def greet(name):\n    return f'Hello, {name}!'\n"
_add(
    BenchTask(
        "rename-greet", "rename",
        "Rename the function greet to say_hello everywhere (app.py, main.py, test_app.py).",
        {"README.md": _readme("app", "`python3 main.py` greets the world."),
         "app.py": _GREET,
         "main.py": "from app import greet\n\nprint(greet('world'))\n",
         "test_app.py": _unit("app", "    def test_greet(self):\n"
                              "        self.assertEqual(app.greet('Bo'), 'Hello, Bo!')\n")},
        "import app\nassert app.say_hello('x') == 'Hello, x!'\n"
        "assert 'greet' not in py_text()\nassert sh(sys.executable, 'main.py').stdout.strip() "
        "== 'Hello, world!'\nassert unittest_ok()\n",
        reference={"app.py": _GREET.replace("greet", "say_hello"),
                   "main.py": "from app import say_hello\n\nprint(say_hello('world'))\n",
                   "test_app.py": _unit("app", "    def test_say_hello(self):\n"
                                        "        self.assertEqual(app.say_hello('Bo'), 'Hello, Bo!')\n")}),
    BenchTask(
        "rename-total", "rename",
        "Rename calc_total to total_price in every file of the project.",
        {"README.md": _readme("shop", "Prices in cents."),
         "shop.py": "def calc_total(prices):\n    return sum(prices)\n",
         "report.py": "from shop import calc_total\n\n\ndef report(prices):\n"
                      "    return f'total: {calc_total(prices)}'\n",
         "test_shop.py": _unit("shop", "    def test_total(self):\n"
                               "        self.assertEqual(shop.calc_total([1, 2]), 3)\n")},
        "import shop, report\nassert shop.total_price([1, 2]) == 3\n"
        "assert report.report([5]) == 'total: 5'\nassert 'calc_total' not in py_text()\n"
        "assert unittest_ok()\n",
        reference={"shop.py": "def total_price(prices):\n    return sum(prices)\n",
                   "report.py": "from shop import total_price\n\n\ndef report(prices):\n"
                                "    return f'total: {total_price(prices)}'\n",
                   "test_shop.py": _unit("shop", "    def test_total(self):\n"
                                         "        self.assertEqual(shop.total_price([1, 2]), 3)\n")}),
    BenchTask(
        "rename-class", "rename",
        "Rename the class Sq to Square in shapes.py and everywhere it is used.",
        {"README.md": _readme("shapes", "Geometry."),
         "shapes.py": "class Sq:\n    def __init__(self, side):\n        self.side = side\n\n"
                      "    def area(self):\n        return self.side ** 2\n",
         "draw.py": "from shapes import Sq\n\n\ndef unit():\n    return Sq(1)\n",
         "test_shapes.py": _unit("shapes", "    def test_area(self):\n"
                                 "        self.assertEqual(shapes.Sq(3).area(), 9)\n")},
        "import shapes, draw\nassert shapes.Square(2).area() == 4\n"
        "assert draw.unit().area() == 1\nassert not re.search(r'\\bSq\\b', py_text())\n"
        "assert unittest_ok()\n",
        reference={"shapes.py": "class Square:\n    def __init__(self, side):\n"
                                "        self.side = side\n\n    def area(self):\n"
                                "        return self.side ** 2\n",
                   "draw.py": "from shapes import Square\n\n\ndef unit():\n    return Square(1)\n",
                   "test_shapes.py": _unit("shapes", "    def test_area(self):\n"
                                           "        self.assertEqual(shapes.Square(3).area(), 9)\n")}),
    BenchTask(
        "rename-constant", "rename",
        "Rename the constant MAXSIZE in config.py to MAX_SIZE, and update every use.",
        {"README.md": _readme("cache", "A size-limited cache."),
         "config.py": "MAXSIZE = 3\n",
         "cache.py": "from config import MAXSIZE\n\n\ndef trim(items):\n"
                     "    return items[-MAXSIZE:]\n",
         "test_cache.py": _unit("cache", "    def test_trim(self):\n"
                                "        self.assertEqual(cache.trim([1, 2, 3, 4]), [2, 3, 4])\n")},
        "import config, cache\nassert config.MAX_SIZE == 3 and cache.trim(list(range(9))) == "
        "[6, 7, 8]\nassert 'MAXSIZE' not in py_text()\nassert unittest_ok()\n",
        reference={"config.py": "MAX_SIZE = 3\n",
                   "cache.py": "from config import MAX_SIZE\n\n\ndef trim(items):\n"
                               "    return items[-MAX_SIZE:]\n"}),
)

# ------------------------------------------------------------------ add a command-line flag
_GREET_CLI = ("import argparse\n\n\ndef main(argv=None):\n    p = argparse.ArgumentParser()\n"
              "    p.add_argument('name')\n    args = p.parse_args(argv)\n"
              "    print(f'Hello, {args.name}!')\n\n\nif __name__ == '__main__':\n    main()\n")
_REPEAT_CLI = ("import argparse\n\n\ndef main(argv=None):\n    p = argparse.ArgumentParser()\n"
               "    p.add_argument('word')\n    args = p.parse_args(argv)\n    print(args.word)\n"
               "\n\nif __name__ == '__main__':\n    main()\n")
_SORT_CLI = ("import argparse\n\n\ndef main(argv=None):\n    p = argparse.ArgumentParser()\n"
             "    p.add_argument('numbers', nargs='+', type=int)\n    args = p.parse_args(argv)\n"
             "    print(' '.join(map(str, sorted(args.numbers))))\n\n\n"
             "if __name__ == '__main__':\n    main()\n")
_add(
    BenchTask(
        "flag-shout", "cli_flag",
        "Add a --shout flag to greet.py: with it the greeting is printed in upper case "
        "(`python3 greet.py Bob --shout` prints HELLO, BOB!).",
        {"README.md": _readme("greet", "`python3 greet.py NAME` prints a greeting."),
         "greet.py": _GREET_CLI},
        "assert sh(sys.executable, 'greet.py', 'Bob', '--shout').stdout.strip() == 'HELLO, BOB!'\n"
        "assert sh(sys.executable, 'greet.py', 'Bob').stdout.strip() == 'Hello, Bob!'\n",
        reference={"greet.py": _GREET_CLI.replace(
            "    args = p.parse_args(argv)\n    print(f'Hello, {args.name}!')\n",
            "    p.add_argument('--shout', action='store_true')\n    args = p.parse_args(argv)\n"
            "    msg = f'Hello, {args.name}!'\n    print(msg.upper() if args.shout else msg)\n")}),
    BenchTask(
        "flag-count", "cli_flag",
        "Add a --count N option to repeat.py (default 1) that prints the word N times, one per "
        "line.",
        {"README.md": _readme("repeat", "`python3 repeat.py WORD` prints WORD."),
         "repeat.py": _REPEAT_CLI},
        "assert sh(sys.executable, 'repeat.py', 'hi', '--count', '3').stdout.split() == "
        "['hi'] * 3\nassert sh(sys.executable, 'repeat.py', 'yo').stdout.split() == ['yo']\n",
        reference={"repeat.py": _REPEAT_CLI.replace(
            "    args = p.parse_args(argv)\n    print(args.word)\n",
            "    p.add_argument('--count', type=int, default=1)\n    args = p.parse_args(argv)\n"
            "    for _ in range(args.count):\n        print(args.word)\n")}),
    BenchTask(
        "flag-reverse", "cli_flag",
        "Add a --reverse flag to sortnums.py that sorts the numbers in descending order.",
        {"README.md": _readme("sortnums", "`python3 sortnums.py 3 1 2` prints 1 2 3."),
         "sortnums.py": _SORT_CLI},
        "assert sh(sys.executable, 'sortnums.py', '3', '1', '2', '--reverse').stdout.split() "
        "== ['3', '2', '1']\nassert sh(sys.executable, 'sortnums.py', '2', '1').stdout.split() "
        "== ['1', '2']\n",
        reference={"sortnums.py": _SORT_CLI.replace(
            "    args = p.parse_args(argv)\n    print(' '.join(map(str, sorted(args.numbers))))\n",
            "    p.add_argument('--reverse', action='store_true')\n    args = p.parse_args(argv)\n"
            "    print(' '.join(map(str, sorted(args.numbers, reverse=args.reverse))))\n")}),
)

# ------------------------------------------------------------------ fix an import error
_add(
    BenchTask(
        "import-module-name", "import_error",
        "`python3 main.py` fails with an import error. Fix it.",
        {"README.md": _readme("main", "`python3 main.py` prints 3."),
         "helpers.py": "def add_one(x):\n    return x + 1\n",
         "main.py": "from helper import add_one\n\nprint(add_one(2))\n"},
        "r = sh(sys.executable, 'main.py')\nassert r.returncode == 0 and r.stdout.strip() == '3'\n"
        "assert pathlib.Path('helpers.py').is_file()\n",
        reference={"main.py": "from helpers import add_one\n\nprint(add_one(2))\n"}),
    BenchTask(
        "import-missing-json", "import_error",
        "report.py crashes with NameError: name 'json' is not defined (see test_report.py). "
        "Fix it.",
        {"README.md": _readme("report", "to_json(d) returns compact JSON."),
         "report.py": "def to_json(d):\n    return json.dumps(d, separators=(',', ':'))\n",
         "test_report.py": _unit("report", "    def test_json(self):\n"
                                 "        self.assertEqual(report.to_json({'a': 1}), '{\"a\":1}')\n")},
        "import report\nassert report.to_json([1, 2]) == '[1,2]'\nassert unittest_ok()\n",
        reference={"report.py": "import json\n\n\ndef to_json(d):\n"
                                "    return json.dumps(d, separators=(',', ':'))\n"}),
    BenchTask(
        "import-wrong-name", "import_error",
        "app.py imports parse_int from utils, which does not exist (the function there is "
        "called to_int). Fix app.py so `python3 app.py` runs.",
        {"README.md": _readme("app", "`python3 app.py` prints 42."),
         "utils.py": "def to_int(s):\n    return int(s.strip())\n",
         "app.py": "from utils import parse_int\n\nprint(parse_int(' 42 '))\n"},
        "r = sh(sys.executable, 'app.py')\nassert r.returncode == 0 and r.stdout.strip() == '42'\n"
        "import utils\nassert utils.to_int('7') == 7\n",
        reference={"app.py": "from utils import to_int\n\nprint(to_int(' 42 '))\n"}),
    BenchTask(
        "import-stdlib-typo", "import_error",
        "geometry.py fails to import (ModuleNotFoundError). Fix it and run the tests.",
        {"README.md": _readme("geometry", "hypot(a, b) is the length of the hypotenuse."),
         "geometry.py": "import maths\n\n\ndef hypot(a, b):\n    return maths.sqrt(a * a + b * b)\n",
         "test_geometry.py": _unit("geometry", "    def test_hypot(self):\n"
                                   "        self.assertEqual(geometry.hypot(3, 4), 5)\n")},
        "import geometry\nassert geometry.hypot(6, 8) == 10\nassert unittest_ok()\n",
        reference={"geometry.py": "import math\n\n\ndef hypot(a, b):\n"
                                  "    return math.sqrt(a * a + b * b)\n"}),
)

# ------------------------------------------------------------------ make a failing doctest pass
_DOCTEST = ("r = sh(sys.executable, '-m', 'doctest', '{mod}.py')\nassert r.returncode == 0, "
            "r.stdout\nassert py_text().count('>>> ') >= {n}\n")
_add(
    BenchTask(
        "doctest-title", "doctest",
        "The doctest of title_case in text.py fails (`python3 -m doctest text.py`). Fix the "
        "function, not the doctest.",
        {"README.md": "# text\n\nCheck with `python3 -m doctest text.py`.\n",
         "text.py": "def title_case(s):\n    \"\"\"Capitalise every word.\n\n"
                    "    >>> title_case('hello big world')\n    'Hello Big World'\n    \"\"\"\n"
                    "    return s.capitalize()\n"},
        _DOCTEST.format(mod="text", n=1) + "import text\nassert text.title_case('a b') == 'A B'\n",
        reference={"text.py": "def title_case(s):\n    \"\"\"Capitalise every word.\n\n"
                              "    >>> title_case('hello big world')\n    'Hello Big World'\n"
                              "    \"\"\"\n    return ' '.join(w.capitalize() for w in s.split(' '))\n"}),
    BenchTask(
        "doctest-vat", "doctest",
        "`python3 -m doctest price.py` fails: with_vat(100) should be 120.0. Fix with_vat.",
        {"README.md": "# price\n\nVAT is 20%. Check with `python3 -m doctest price.py`.\n",
         "price.py": "def with_vat(net):\n    \"\"\"The price with 20% VAT added.\n\n"
                     "    >>> with_vat(100)\n    120.0\n    \"\"\"\n    return net * 0.2\n"},
        _DOCTEST.format(mod="price", n=1) + "import price\nassert price.with_vat(50) == 60.0\n",
        reference={"price.py": "def with_vat(net):\n    \"\"\"The price with 20% VAT added.\n\n"
                               "    >>> with_vat(100)\n    120.0\n    \"\"\"\n"
                               "    return net * 1.2\n"}),
    BenchTask(
        "doctest-first-word", "doctest",
        "Make the failing doctest in words.py pass by fixing first_word.",
        {"README.md": "# words\n\nCheck with `python3 -m doctest words.py`.\n",
         "words.py": "def first_word(s):\n    \"\"\"The first word of s.\n\n"
                     "    >>> first_word('  hello world')\n    'hello'\n    \"\"\"\n"
                     "    return s.split(' ')[0]\n"},
        _DOCTEST.format(mod="words", n=1)
        + "import words\nassert words.first_word('\\tab c') == 'ab'\n",
        reference={"words.py": "def first_word(s):\n    \"\"\"The first word of s.\n\n"
                               "    >>> first_word('  hello world')\n    'hello'\n    \"\"\"\n"
                               "    return s.split()[0]\n"}),
    BenchTask(
        "doctest-duration", "doctest",
        "fmt_duration in clock.py fails its doctest (`python3 -m doctest clock.py`). Fix it.",
        {"README.md": "# clock\n\nDurations as H:MM:SS.\n",
         "clock.py": "def fmt_duration(seconds):\n    \"\"\"H:MM:SS.\n\n"
                     "    >>> fmt_duration(3661)\n    '1:01:01'\n    \"\"\"\n"
                     "    h, rest = divmod(seconds, 3600)\n    m, s = divmod(rest, 60)\n"
                     "    return f'{h}:{m}:{s}'\n"},
        _DOCTEST.format(mod="clock", n=1)
        + "import clock\nassert clock.fmt_duration(59) == '0:00:59'\n",
        reference={"clock.py": "def fmt_duration(seconds):\n    \"\"\"H:MM:SS.\n\n"
                               "    >>> fmt_duration(3661)\n    '1:01:01'\n    \"\"\"\n"
                               "    h, rest = divmod(seconds, 3600)\n    m, s = divmod(rest, 60)\n"
                               "    return f'{h}:{m:02d}:{s:02d}'\n"}),
)

# ------------------------------------------------------------------ answer a question
_add(
    BenchTask(
        "ask-port", "question",
        "What port does the server in this project listen on by default? Answer with the "
        "number.",
        {"README.md": "# server\n\nA tiny HTTP server.\n",
         "server.py": "import os\n\nDEFAULT_PORT = 8731\n\n\ndef port():\n"
                      "    return int(os.environ.get('PORT', DEFAULT_PORT))\n"},
        pattern=r"\b8731\b", reference_answer="It listens on port 8731 by default."),
    BenchTask(
        "ask-raises", "question",
        "Which function in this project raises ValueError for a negative input? Answer with "
        "its name.",
        {"README.md": "# mathlib\n\nTwo modules of helpers.\n",
         "roots.py": "import math\n\n\ndef safe_sqrt(x):\n    if x < 0:\n"
                     "        raise ValueError('negative')\n    return math.sqrt(x)\n",
         "powers.py": "def square(x):\n    return x * x\n\n\ndef cube(x):\n    return x ** 3\n"},
        pattern=r"\bsafe_sqrt\b", reference_answer="safe_sqrt in roots.py."),
    BenchTask(
        "ask-test-count", "question",
        "How many test methods does test_core.py define? Answer with the number.",
        {"README.md": _readme("core", "Core helpers."),
         "core.py": "def inc(x):\n    return x + 1\n",
         "test_core.py": _unit("core", "".join(
             f"    def test_{n}(self):\n        self.assertEqual(core.inc({i}), {i + 1})\n\n"
             for i, n in enumerate(("zero", "one", "two", "three", "four"))))},
        pattern=r"\b(5|five)\b", reference_answer="It defines 5 test methods."),
    BenchTask(
        "ask-return", "question",
        "What does compute(3) in calc.py return? Answer with the value.",
        {"README.md": "# calc\n\nArithmetic.\n",
         "calc.py": "def compute(n):\n    total = 1\n    for i in range(n):\n"
                    "        total += i * 7\n    return total\n"},
        pattern=r"\b22\b", reference_answer="compute(3) returns 22."),
)


def task_ids() -> list[str]:
    """Every task id, in suite order."""
    return [t.id for t in TASKS]
