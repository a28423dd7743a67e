"""Naming and escaping rules of the template, as Jinja filters.

copier.yml loads this module through copier-template-extensions:

    _jinja_extensions:
      - copier_template_extensions.TemplateExtensionLoader
      - extensions/naming.py:NamingExtension

Escaping: each filter turns free text into a literal of one target syntax (`python_string`,
`python_docstring`, `toml_string`, `dockerfile_label`, `markdown_text`), so any answer gives a
file that its parser accepts. Naming: `package_name_from` derives the package name from the
project name, and `package_name_problem` / `one_line_problem` say in one line what is wrong with
an answer (an empty string when nothing is), as copier validators must.
"""

import keyword
import re
import sys
import unicodedata

from jinja2.ext import Extension

# ---------------------------------------------------------------------------------------------
# Names a package must not take
# ---------------------------------------------------------------------------------------------

# The standard library of the running Python, plus its test package (which the list leaves out)
# and the top-level modules that newer Pythons, which a project may target while copier runs on
# an older one, have added since 3.11.
STDLIB_MODULES = frozenset(sys.stdlib_module_names) | {"test", "annotationlib", "compression"}

# Files of the generated project that its package would collide with.
PROJECT_MODULES = frozenset({"main", "tests", "conftest"})

# Import names that every generated project installs: the service, its settings, its tests.
SERVICE_MODULES = frozenset(
    {
        "_pytest",
        "annotated_doc",
        "annotated_types",
        "anyio",
        "certifi",
        "click",
        "dotenv",
        "fastapi",
        "h11",
        "httpcore",
        "httpx",
        "idna",
        "iniconfig",
        "packaging",
        "pluggy",
        "prometheus_client",
        "pydantic",
        "pydantic_core",
        "pydantic_settings",
        "pygments",
        "pytest",
        "ruff",
        "starlette",
        "tqdm",
        "typing_extensions",
        "typing_inspection",
        "uvicorn",
    }
)

# Import names that each answer installs, read from the resolved dependency trees (`uv pip
# compile`) of scikit-learn, torch and mlflow-skinny 3.17 with sqlalchemy and alembic.
CHOICE_MODULES = {
    "ml_framework": {
        "scikit-learn": frozenset(
            {"cloudpickle", "joblib", "narwhals", "numpy", "scipy", "sklearn", "threadpoolctl"}
        ),
        "pytorch": frozenset(
            {
                "_distutils_hack",
                "cuda",
                "filelock",
                "fsspec",
                "functorch",
                "isympy",
                "jinja2",
                "markupsafe",
                "mpmath",
                "networkx",
                "numpy",
                "nvidia",
                "pkg_resources",
                "setuptools",
                "sympy",
                "torch",
                "torchgen",
                "triton",
            }
        ),
        "none": frozenset(),
    },
    "tracking": {
        "mlflow": frozenset(
            {
                "alembic",
                "cachetools",
                "cffi",
                "charset_normalizer",
                "cloudpickle",
                "cryptography",
                "databricks",
                "git",
                "gitdb",
                "google",
                "importlib_metadata",
                "mako",
                "markupsafe",
                "mlflow",
                "opentelemetry",
                "pyasn1",
                "pyasn1_modules",
                "pycparser",
                "requests",
                "smmap",
                "sqlalchemy",
                "sqlparse",
                "urllib3",
                "yaml",
                "zipp",
            }
        ),
        "none": frozenset(),
    },
}

# What any answer may install: the derived default avoids all of it, since copier derives it
# before the framework and tracking questions are answered.
ANY_CHOICE_MODULES = frozenset().union(
    *(modules for choices in CHOICE_MODULES.values() for modules in choices.values())
)

CHOICE_MODULES_ALL = {key: "*" for key in CHOICE_MODULES}

PACKAGE_NAME = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")


def package_name_from(project_name: str) -> str:
    """The snake_case ASCII package name for a project name ("3D Café" -> "ml_3d_cafe"), or ""
    when it has no ASCII letter or digit. A name that would shadow a module gets `_project`."""
    ascii_name = unicodedata.normalize("NFKD", project_name).encode("ascii", "ignore").decode()
    name = "_".join(re.findall(r"[a-z0-9]+", ascii_name.lower()))
    if name[:1].isdigit():
        name = f"ml_{name}"
    if name and shadowed_module(name, CHOICE_MODULES_ALL):
        name = f"{name}_project"
    return name


def shadowed_module(name: str, choices: dict[str, str]) -> str:
    """Why `name` cannot be a package of a project with these answers ("" when it can).
    `choices` maps each key of CHOICE_MODULES to the answer, or "*" for any answer."""
    if keyword.iskeyword(name):
        return "is a Python keyword, so it cannot be imported"
    if name in STDLIB_MODULES:
        return f"shadows the standard-library module {name}"
    if name in PROJECT_MODULES:
        return f"collides with the project's own {name}"
    if name in SERVICE_MODULES:
        return f"shadows {name}, which every generated project installs"
    for key, answer in choices.items():
        modules = ANY_CHOICE_MODULES if answer == "*" else CHOICE_MODULES[key].get(answer, ())
        if name in modules:
            chosen = f"{key}={answer}" if answer != "*" else key
            return f"shadows {name}, which {chosen} installs"
    return ""


def package_name_problem(
    package_name: str, project_name: str, ml_framework: str, tracking: str
) -> str:
    """One line that names what is wrong with package_name and how to fix it, or ""."""
    if not package_name:
        return (
            f"package_name is empty (project_name {python_string(project_name)} has no ASCII "
            "letter or digit): pass --data package_name=my_model."
        )
    quoted = f'package_name "{package_name}"' if package_name.isprintable() else "package_name"
    bad = sorted(set(re.sub(r"[a-z0-9_]", "", package_name)))
    if bad:
        return (
            f"{quoted} has characters {' '.join(map(python_string, bad))} that a Python package "
            'name cannot have: use lowercase ASCII letters, digits and "_", e.g. my_model.'
        )
    if package_name[0].isdigit():
        return (
            f"{quoted} starts with a digit, so Python cannot import it: start with a letter, "
            f"e.g. ml_{package_name}."
        )
    if not PACKAGE_NAME.fullmatch(package_name):
        suggestion = package_name_from(package_name) or "my_model"
        return (
            f'{quoted} starts or ends with "_" or has "__", which the distribution name '
            f"cannot: use letters and digits joined by single underscores, e.g. {suggestion}."
        )
    why = shadowed_module(package_name, {"ml_framework": ml_framework, "tracking": tracking})
    if why:
        return f"{quoted} {why}: choose another name, e.g. {package_name}_project."
    return ""


# ---------------------------------------------------------------------------------------------
# Free text
# ---------------------------------------------------------------------------------------------

# The generated project's ruff line length.
LINE_LENGTH = 100

# Line breaks and controls: no one-line field of any target can hold them as themselves.
NOT_ONE_LINE = {"Cc", "Cs", "Zl", "Zp"}


def one_line_problem(text: str, key: str) -> str:
    """One line that says why free text cannot be a one-line answer, or ""."""
    bad = sorted({char for char in text if unicodedata.category(char) in NOT_ONE_LINE})
    if bad:
        shown = " ".join(python_string(char) for char in bad)
        return (
            f"{key} has line breaks or control characters ({shown}): write it on one line, "
            "without them."
        )
    if text.endswith("\\"):
        return (
            f"{key} ends with a backslash, which hadolint misreads at the end of a Dockerfile "
            "label: remove it."
        )
    return ""


def project_name_problem(project_name: str) -> str:
    """One line that says what is wrong with project_name and how to fix it, or ""."""
    if not project_name.strip():
        return 'project_name is empty: give a name such as "Churn Model".'
    problem = one_line_problem(project_name, "project_name")
    if problem:
        return problem
    # The name is a string in a line of the generated code (info.py: `        ("project", `).
    room = LINE_LENGTH - len('        ("project", ),')
    width = _display_width(python_string(project_name))
    if width > room:
        return (
            f"project_name is too long: as a Python string it takes {width} of the {room} "
            "columns it has in the generated code (a symbol or emoji takes 6 to 10): shorten "
            "it and say the rest in the description."
        )
    return ""


def email_problem(email: str) -> str:
    """One line that says why author_email is no address of the form name@domain.tld, or ""."""
    name, at, domain = email.partition("@")
    labels = domain.split(".")
    if not (name and at and len(labels) > 1 and all(labels)) or "@" in domain or " " in email:
        return (
            f"author_email {python_string(email)} is not an email address: use the form "
            "name@example.com."
        )
    return one_line_problem(email, "author_email")


def _python_escape(char: str) -> str:
    if char in "\n\r\t":
        return repr(char)[1:-1]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _python_char(char: str, quote: str) -> str:
    if char in ("\\", quote):
        return "\\" + char
    if char.isascii() and char.isprintable():
        return char
    # Letters, marks and digits of any script stay readable; other characters (controls,
    # surrogates, typographic dashes, quotes and spaces, symbols, emoji) become escapes, since
    # ruff's RUF001/RUF002 flag the ones that look like ASCII.
    if char.isprintable() and unicodedata.category(char)[0] in "LMN":
        return char
    return _python_escape(char)


def python_string(text: str) -> str:
    """A Python string literal of `text`, quoted the way ruff format quotes it."""
    quote = "'" if text.count('"') > text.count("'") else '"'
    return quote + "".join(_python_char(char, quote) for char in text) + quote


def _display_width(text: str) -> int:
    """Columns a line takes, as ruff's line-length rule counts them."""
    return sum(
        0
        if unicodedata.category(char) in ("Mn", "Me")
        else 2
        if unicodedata.east_asian_width(char) in "WF"
        else 1
        for char in text
    )


def python_docstring(text: str) -> str:
    """A module docstring of `text`, ruff clean: every `"` escaped (ruff keeps that), runs of
    spaces collapsed, and lines wrapped at spaces to fit the line length (a longer word keeps a
    line of its own, which ruff allows)."""
    width = LINE_LENGTH - len('""""""')  # a line fits even with the quotes at both ends
    words = ["".join(_python_char(char, '"') for char in word) for word in text.split(" ") if word]
    lines = [""]
    for word in words:
        joined = f"{lines[-1]} {word}" if lines[-1] else word
        if lines[-1] and _display_width(joined) > width:
            lines.append(word)
        else:
            lines[-1] = joined
    body = "\n".join(lines)
    if len(lines) == 1:  # ruff keeps the closing quotes on a lone line, however long
        return f'"""{body}"""'
    return f'"""{body}\n"""'


_TOML_ESCAPES = {"\b": r"\b", "\t": r"\t", "\n": r"\n", "\f": r"\f", "\r": r"\r"}


def _toml_char(char: str) -> str:
    if char in ('"', "\\"):
        return "\\" + char
    if char in _TOML_ESCAPES:
        return _TOML_ESCAPES[char]
    if unicodedata.category(char) == "Cs":  # a lone surrogate is no Unicode scalar value
        return r"\uFFFD"
    if char < " " or char == "\x7f":
        return f"\\u{ord(char):04X}"
    return char  # everything else, outside the BMP too, as itself: TOML is UTF-8


def toml_string(text: str) -> str:
    """A TOML basic string of `text`."""
    return '"' + "".join(map(_toml_char, text)) + '"'


def dockerfile_label(text: str) -> str:
    """A double-quoted Dockerfile LABEL value of `text`: `$` would start a variable."""
    return '"' + re.sub(r'([\\"$])', r"\\\1", text) + '"'


def markdown_text(text: str) -> str:
    """`text` as literal Markdown inline text: no emphasis, link, HTML, heading or list."""
    escaped = re.sub(r"([\\`*_\[\]<>#|~&])", r"\\\1", text.strip())
    escaped = re.sub(r"^([-+=])", r"\\\1", escaped)  # a list item or a heading underline
    return re.sub(r"^(\d+)([.)])", r"\1\\\2", escaped)  # an ordered list item


class NamingExtension(Extension):
    """Makes the functions above Jinja filters of the same names."""

    def __init__(self, environment):
        super().__init__(environment)
        for function in (
            package_name_from,
            package_name_problem,
            one_line_problem,
            project_name_problem,
            email_problem,
            python_string,
            python_docstring,
            toml_string,
            dockerfile_label,
            markdown_text,
        ):
            environment.filters[function.__name__] = function
