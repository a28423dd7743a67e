"""The naming and escaping rules of extensions/naming.py, as functions: each output is read back
by the parser of its target and gives the input again."""

import ast
import importlib.util
import tomllib

import jinja2
import pytest
import yaml

from helpers import DERIVED_PACKAGE_NAMES, REPO

_spec = importlib.util.spec_from_file_location("naming", REPO / "extensions" / "naming.py")
naming = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(naming)

ODD_TEXTS = [
    "",
    "plain",
    'a "quoted" word',
    "it's",
    "both ' and \"",
    'triple """ quotes',
    'ends with a quote"',
    '"starts with one',
    "back\\slash and \\n",
    "trailing backslash\\",
    "emoji 🎉 and 𝄞 outside the BMP",
    "zero-width joiner 👩‍💻",
    "brackets [x](y) {z} <b>",
    "control\x00\x1f\x7f and line\nbreaks\r\u2028",
    "lone surrogate \ud800",
    "$HOME ${PATH}",
]


@pytest.mark.parametrize("text", ODD_TEXTS)
def test_python_string_is_a_literal_of_the_text(text):
    assert ast.literal_eval(naming.python_string(text)) == text


def words(text):
    return [word for word in text.split(" ") if word]


@pytest.mark.parametrize("text", ODD_TEXTS)
def test_python_docstring_is_a_docstring_of_the_text_with_single_spaces(text):
    module = ast.parse(naming.python_docstring(text))
    assert ast.get_docstring(module, clean=False) == " ".join(words(text))


def test_python_docstring_wraps_long_text_within_the_line_length():
    text = "A churn model – built with “care” 🎉, " * 12 + "x" * 120
    source = naming.python_docstring(text)

    lines = source.splitlines()
    assert len(lines) > 3
    assert all(len(line) <= 100 for line in lines if " " in line)  # ruff allows a lone long word
    docstring = ast.get_docstring(ast.parse(source), clean=False)
    assert words(docstring.replace("\n", " ")) == words(text)


def test_python_literals_escape_what_ruff_would_flag_and_keep_letters_readable():
    # RUF001/RUF002 flag look-alikes of ASCII such as the en dash and curly quotes.
    assert naming.python_string("Zoë’s model – 日本語 🎉") == (
        '"Zoë\\u2019s model \\u2013 日本語 \\U0001f389"'
    )


def test_python_string_quotes_as_ruff_format_does():
    assert naming.python_string("plain") == '"plain"'
    assert naming.python_string('say "hi"') == "'say \"hi\"'"
    assert naming.python_string("it's") == '"it\'s"'


@pytest.mark.parametrize("text", [t for t in ODD_TEXTS if "\ud800" not in t])
def test_toml_string_is_a_basic_string_of_the_text(text):
    assert tomllib.loads(f"value = {naming.toml_string(text)}")["value"] == text


def test_toml_string_writes_characters_outside_the_bmp_as_themselves():
    assert naming.toml_string("🎉") == '"🎉"'  # never a surrogate pair such as \ud83c\udf89


def test_toml_string_replaces_a_lone_surrogate_which_toml_cannot_hold():
    value = naming.toml_string("a\ud800")
    assert tomllib.loads(f"v = {value}")["v"] == "a\ufffd"


def test_dockerfile_label_escapes_quotes_backslashes_and_variables():
    assert naming.dockerfile_label('a "b" \\ $HOME') == '"a \\"b\\" \\\\ \\$HOME"'


@pytest.mark.parametrize(
    ("text", "markdown"),
    [
        ("Churn Model", "Churn Model"),
        ("*bold* _it_ `code`", r"\*bold\* \_it\_ \`code\`"),
        ("[link](x) <b> &amp; #1 a|b ~x~", r"\[link\](x) \<b\> \&amp; \#1 a\|b \~x\~"),
        ("- not a list", r"\- not a list"),
        ("1. not a list", r"1\. not a list"),
        ("back\\slash", r"back\\slash"),
        ("  spaces  ", "spaces"),
    ],
)
def test_markdown_text_is_literal_text(text, markdown):
    assert naming.markdown_text(text) == markdown


@pytest.mark.parametrize(
    ("project_name", "package_name"),
    [*DERIVED_PACKAGE_NAMES, ("Main", "main_project"), ("!!!", "")],
)
def test_package_name_from_never_shadows_a_module(project_name, package_name):
    assert naming.package_name_from(project_name) == package_name


@pytest.mark.parametrize(
    "project_name", ["Json", "Torch", "Numpy", "Mlflow", "Fastapi", "Yaml", "3D Café", "Class"]
)
def test_derived_names_pass_the_validator_for_every_choice(project_name):
    name = naming.package_name_from(project_name)
    for framework in naming.CHOICE_MODULES["ml_framework"]:
        for tracking in naming.CHOICE_MODULES["tracking"]:
            assert naming.package_name_problem(name, project_name, framework, tracking) == ""


@pytest.mark.parametrize(
    ("package_name", "framework", "tracking", "message"),
    [
        ("json", "none", "none", 'package_name "json" shadows the standard-library module json'),
        ("test", "none", "none", "shadows the standard-library module test"),
        ("fastapi", "none", "none", "shadows fastapi, which every generated project installs"),
        ("torch", "pytorch", "none", "shadows torch, which ml_framework=pytorch installs"),
        ("numpy", "scikit-learn", "none", "shadows numpy, which ml_framework=scikit-learn"),
        ("mlflow", "none", "mlflow", "shadows mlflow, which tracking=mlflow installs"),
        ("sqlalchemy", "none", "mlflow", "shadows sqlalchemy, which tracking=mlflow installs"),
        ("main", "none", "none", "collides with the project's own main"),
        ("class", "none", "none", "is a Python keyword"),
        ("_", "none", "none", 'package_name "_" starts or ends with "_"'),
        ("my__model", "none", "none", "e.g. my_model."),
        ("model_", "none", "none", "e.g. model."),
        ("2fast", "none", "none", "starts with a digit"),
        ("My-Model", "none", "none", 'has characters "-" "M"'),
        ("", "none", "none", "package_name is empty"),
    ],
)
def test_package_name_problem_names_the_problem_and_a_fix(
    package_name, framework, tracking, message
):
    problem = naming.package_name_problem(package_name, "Project", framework, tracking)
    assert message in problem
    assert "\n" not in problem


@pytest.mark.parametrize(
    ("package_name", "framework", "tracking"),
    [("torch", "none", "none"), ("mlflow", "pytorch", "none"), ("numpy", "none", "none")],
)
def test_dependencies_of_other_choices_are_allowed(package_name, framework, tracking):
    assert naming.package_name_problem(package_name, "Project", framework, tracking) == ""


def test_shadow_suggestions_are_themselves_valid():
    for name in ["json", "torch", "mlflow", "class", "main"]:
        assert naming.package_name_problem(f"{name}_project", "P", "pytorch", "mlflow") == ""


@pytest.mark.parametrize("text", ["two\nlines", "tab\there", "nul\x00", "sep\u2028", "cr\r"])
def test_one_line_problem_refuses_line_breaks_and_controls(text):
    problem = naming.one_line_problem(text, "description")
    assert problem.startswith("description has line breaks or control characters (")
    assert "\n" not in problem


def test_one_line_problem_refuses_a_trailing_backslash_that_hadolint_misreads():
    assert "ends with a backslash" in naming.one_line_problem("C:\\", "description")


@pytest.mark.parametrize(
    ("project_name", "message"),
    [
        ("  ", 'project_name is empty: give a name such as "Churn Model".'),
        ("x" * 77, "as a Python string it takes 79 of the 78 columns"),
        ("🎉" * 8, "as a Python string it takes 82 of the 78 columns"),
        ("a\nb", "project_name has line breaks"),
    ],
)
def test_project_name_problem_names_the_problem_and_a_fix(project_name, message):
    assert message in naming.project_name_problem(project_name)


@pytest.mark.parametrize("project_name", ["x" * 76, "日本語" * 12, "Churn Model 🎉"])
def test_project_names_that_fit_a_line_of_code_are_accepted(project_name):
    assert naming.project_name_problem(project_name) == ""


@pytest.mark.parametrize("text", ["Zoë 🚀", "👩‍💻 team", 'quotes " and \\ inside', "", "日本語"])
def test_one_line_problem_accepts_any_other_text(text):
    assert naming.one_line_problem(text, "author_name") == ""


def validator(question: str):
    """copier.yml's validator of a question, rendered as copier does (with this extension)."""
    environment = jinja2.Environment()
    naming.NamingExtension(environment)
    config = yaml.safe_load((REPO / "copier.yml").read_text())
    return environment.from_string(config[question]["validator"]).render


def test_the_framework_question_refuses_a_package_name_its_choice_would_shadow():
    # Interactively package_name is asked first, before the framework is known.
    check = validator("ml_framework")
    answers = {"project_name": "Torch", "package_name": "torch"}

    assert "shadows torch, which ml_framework=pytorch installs" in check(
        **answers, ml_framework="pytorch"
    )
    assert check(**answers, ml_framework="none") == ""


def test_tracking_counts_as_mlflow_until_the_question_exists():
    check = validator("package_name")
    answers = {"project_name": "Mlflow", "package_name": "mlflow", "ml_framework": "none"}

    assert "shadows mlflow, which tracking=mlflow installs" in check(**answers)
    assert check(**answers, tracking="none") == ""


@pytest.mark.parametrize(
    "email", ["bob", "bob@localhost", "@example.com", "bob@.com", "bob@example.", "a b@x.io"]
)
def test_email_problem_refuses_what_is_not_name_at_domain(email):
    assert naming.email_problem(email).endswith(
        "is not an email address: use the form name@example.com."
    )


@pytest.mark.parametrize("email", ["ml-team@example.com", "zoë@exämple.org", '"odd"@example.com'])
def test_email_problem_accepts_addresses(email):
    assert naming.email_problem(email) == ""
