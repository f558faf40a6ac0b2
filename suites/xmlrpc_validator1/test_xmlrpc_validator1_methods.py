"""xmlrpc-validator1: UserLand's eight validator1 methods, with hypothesis-drawn inputs.

Each method's definition is quoted from the validator1 suite; inputs are drawn by hypothesis
(the ``ci`` profile is derandomized and seeded per case, so a CI run is reproducible; a
failure names its example) and every result is checked against the definition.
"""

import string

from hypothesis import strategies as st

from harness.cases import case
from harness.checks import Endpoint
from harness.checks import xmlrpc as rpc
from harness.checks.properties import run_property
from harness.verdicts import MUST

SMALL_INT = st.integers(-(2**20), 2**20)  # sums of up to a few hundred stay inside 32 bits
TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\r") | st.sampled_from("<>&'\"\t\n"),
    max_size=200,
)
STOOGES = st.fixed_dictionaries({"moe": SMALL_INT, "larry": SMALL_INT, "curly": SMALL_INT})


def _property(endpoint, record_observation, method, strategy, wanted, name, max_examples=None):
    expected = f"{method} as defined"
    seeds = []
    examples = run_property(
        lambda params: rpc.expect_value(endpoint, method, params, wanted(*params), expected),
        strategy.map(lambda value: value if isinstance(value, tuple) else (value,)),
        lambda params: f"params {repr(params)[:120]}",
        name=name,
        max_examples=max_examples,
        on_seed=seeds.append,
    )
    # The run's seed goes into the report: with it, the same inputs can be drawn again.
    record_observation(f"{examples} hypothesis examples answered as defined (seed {seeds[0]})")


@case("xmlrpc-validator1/validator1/1", level=MUST,
      requirement='validator1: "arrayOfStructsTest (array) returns number. This handler takes a single parameter, an array of structs, each of which contains at least three elements named moe, larry and curly, all <i4>s. Your handler must add all the struct elements named curly and return the result."',
      expected="the sum of the curly members, for drawn arrays of structs")
def test_array_of_structs(endpoint: Endpoint, record_observation) -> None:
    _property(endpoint, record_observation, "validator1.arrayOfStructsTest", st.lists(STOOGES, max_size=20),
              lambda structs: sum(s["curly"] for s in structs), "arrayOfStructsTest")


@case("xmlrpc-validator1/validator1/2", level=MUST,
      requirement='validator1: "countTheEntities (string) returns struct. This handler takes a single parameter, a string, that contains any number of predefined entities, namely <, >, &, \' and ". Your handler must return a struct that contains five fields, all numbers: ctLeftAngleBrackets, ctRightAngleBrackets, ctAmpersands, ctApostrophes, ctQuotes."',
      expected="the five counts, for drawn strings rich in < > & ' \"")
def test_count_the_entities(endpoint: Endpoint, record_observation) -> None:
    _property(endpoint, record_observation, "validator1.countTheEntities", TEXT, lambda text: {
        "ctLeftAngleBrackets": text.count("<"), "ctRightAngleBrackets": text.count(">"),
        "ctAmpersands": text.count("&"), "ctApostrophes": text.count("'"), "ctQuotes": text.count('"'),
    }, "countTheEntities")


@case("xmlrpc-validator1/validator1/3", level=MUST,
      requirement='validator1: "easyStructTest (struct) returns number. This handler takes a single parameter, a struct, containing at least three elements named moe, larry and curly, all <i4>s. Your handler must add the three numbers and return the result."',
      expected="moe + larry + curly")
def test_easy_struct(endpoint: Endpoint, record_observation) -> None:
    _property(endpoint, record_observation, "validator1.easyStructTest", STOOGES, lambda s: s["moe"] + s["larry"] + s["curly"], "easyStructTest")


MEMBER_VALUES = st.recursive(
    st.integers(-(2**31), 2**31 - 1) | st.booleans() | TEXT | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(string.ascii_letters, min_size=1, max_size=8), inner, max_size=4),
    max_leaves=6,
)


@case("xmlrpc-validator1/validator1/4", level=MUST,
      requirement='validator1: "echoStructTest (struct) returns struct. This handler takes a single parameter, a struct. Your handler must return the struct."',
      expected="the struct returned unchanged (members compared by name, not order)")
def test_echo_struct(endpoint: Endpoint, record_observation) -> None:
    _property(endpoint, record_observation, "validator1.echoStructTest",
              st.dictionaries(st.text(string.ascii_letters + string.digits, min_size=1, max_size=10), MEMBER_VALUES, max_size=5),
              lambda struct: struct, "echoStructTest", max_examples=5)


@case("xmlrpc-validator1/validator1/5", level=MUST,
      requirement='validator1: "manyTypesTest (number, boolean, string, double, dateTime, base64) returns array. This handler takes six parameters, and returns an array containing all the parameters."',
      expected="the six parameters back, as an array, each of its own type")
def test_many_types(endpoint: Endpoint, record_observation) -> None:
    import datetime

    when = st.datetimes(min_value=datetime.datetime(1900, 1, 1), max_value=datetime.datetime(9999, 12, 31)).map(
        lambda moment: moment.replace(microsecond=0)
    )
    _property(endpoint, record_observation, "validator1.manyTypesTest",
              st.tuples(st.integers(-(2**31), 2**31 - 1), st.booleans(), TEXT,
                        st.floats(allow_nan=False, allow_infinity=False), when, st.binary(max_size=300)),
              lambda *params: list(params), "manyTypesTest")


@case("xmlrpc-validator1/validator1/6", level=MUST,
      requirement='validator1: "moderateSizeArrayCheck (array) returns string. This handler takes a single parameter, which is an array containing between 100 and 200 elements. Each of the items is a string, your handler must return a string containing the concatenated text of the first and last elements."',
      expected="first + last of 100-200 drawn strings")
def test_moderate_size_array(endpoint: Endpoint, record_observation) -> None:
    _property(endpoint, record_observation, "validator1.moderateSizeArrayCheck",
              st.tuples(st.integers(100, 200), st.integers(0, 2**32)).map(lambda drawn: _strings(*drawn)),
              lambda strings: strings[0] + strings[-1], "moderateSizeArrayCheck", max_examples=5)


# Drawing 200 strings character by character is slow; a count and a seed are drawn instead and
# the strings built from them, still rich in the characters XML must escape.
STRING_ALPHABET = string.ascii_letters + string.digits + " <>&'\"\t\n\u00e9\u4e2d\U0001f600"


def _strings(count: int, seed: int) -> list[str]:
    import random

    generator = random.Random(seed)
    return ["".join(generator.choices(STRING_ALPHABET, k=generator.randint(0, 60))) for _ in range(count)]


@case("xmlrpc-validator1/validator1/7", level=MUST,
      requirement='validator1: "nestedStructTest (struct) returns number. This handler takes a single parameter, a struct, that models a daily calendar. At the top level, there is one struct for each year. Each year is broken down into months, and months into days. Most of the days are empty in the struct you receive, but the entry for April 1, 2000 contains a least three elements named moe, larry and curly, all <i4>s. Your handler must add the three numbers and return the result."',
      expected="moe + larry + curly of calendar 2000/04/01")
def test_nested_struct(endpoint: Endpoint, record_observation) -> None:
    def calendar(stooges):
        days = {f"{day:02d}": {} for day in range(1, 31)}
        days["01"] = stooges
        return {"1999": {"12": {"31": {}}}, "2000": {"03": {"31": {}}, "04": days}, "2001": {}}

    _property(endpoint, record_observation, "validator1.nestedStructTest", STOOGES.map(calendar),
              lambda c: sum(c["2000"]["04"]["01"][name] for name in ("moe", "larry", "curly")), "nestedStructTest")


@case("xmlrpc-validator1/validator1/8", level=MUST,
      requirement='validator1: "simpleStructReturnTest (number) returns struct. This handler takes one parameter, and returns a struct containing three elements, times10, times100 and times1000, the result of multiplying the number by 10, 100 and 1000."',
      expected="times10, times100, times1000 of drawn numbers")
def test_simple_struct_return(endpoint: Endpoint, record_observation) -> None:
    _property(endpoint, record_observation, "validator1.simpleStructReturnTest", st.integers(-2_000_000, 2_000_000),
              lambda n: {"times10": n * 10, "times100": n * 100, "times1000": n * 1000}, "simpleStructReturnTest")
