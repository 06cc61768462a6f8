"""The importer's vocabulary, in Portuguese, Spanish and English: words folded, titles cleaned, and what a
title, a sentence or a fenced line reads as."""

from __future__ import annotations

import re
import unicodedata


def fold(text: str) -> str:
    """Lower case, no accents, no emoji: for matching words across languages."""
    norm = unicodedata.normalize("NFKD", text)
    return "".join(c for c in norm if unicodedata.category(c)[0] in "LNZP" or c in "%<>=.-/:").lower()


_CODE_SPAN = re.compile(r"(`+)(.+?)\1")


def unmark(text: str) -> str:
    """Markdown emphasis off, inline code kept as written: `a_b.sh` stays a_b.sh, error_rate stays error_rate
    (CommonMark: an underscore inside a word is not emphasis)."""
    out, last = [], 0
    for m in _CODE_SPAN.finditer(text):
        out += [_unemphasised(text[last:m.start()]), m.group(2).strip()]
        last = m.end()
    return "".join([*out, _unemphasised(text[last:])]).replace("`", "")


def _unemphasised(text: str) -> str:
    return re.sub(r"(?<!\w)_+|_+(?!\w)", "", text.replace("*", ""))


def clean_title(text: str) -> str:
    text = unmark(text)
    text = "".join(c for c in text if unicodedata.category(c)[0] in "LNZP" or c in "%+&()/:'-")
    text = re.sub(r"^\s*\d+(\.\d+)*\.?\s+", "", text)  # "1.2 " numbering
    text = re.sub(r"\s*\(\d{1,2}:\d{2}\s*[-–]\s*\d{1,2}:\d{2}\)\s*$", "", text)  # "(01:30-02:00)"
    return re.sub(r"\s+", " ", text).strip(" :-") or "Phase"


PHASE_HEADING = re.compile(r"^\W*(fase|phase|etapa|stage)\s*\d+\b", re.I)  # "step 2.1" is inside a phase
# Sections that are not part of the night, by what their title *is*, never by a word inside it:
# "Configure the reverse proxy" is a phase, "Rollback procedure" is not.
REFERENCE_TITLE = re.compile(
    r"^(procedimentos? de |procedures? (for )?|plano de |plan (de )?|processo de |process (for )?|quick |full |"
    r"emergency |emergencia )?"
    r"(rollback|roll back|revers[a-z]*|reverter|conting[a-z]*|emerg[a-z]*|troubleshoot[a-z]*|solucao de problemas|"
    r"(apendice|appendix|anexos?)\b.*|clean ?up|teardown|tear down|limpeza|limpieza|logs?|(\w+ ){0,2}(definitions|definicoes|definiciones)|contacts?|contatos?|contactos?|table of contents|contents|indice|sumario|toc|"
    r"referencias?|references?|faq|glossario|glossary|post.?mortem|pos.?incidente|incident response|"
    r"resposta a incidentes?|(useful|handy|common|quick|helpful) (commands|scripts|tools)|toolbox|"
    r"(comandos|scripts|ferramentas|herramientas|outils) (uteis|utiles|comuns|rapidos|pratiques)|"
    r"cheat.?sheet|tools and commands|commands reference|communication|comunicacao|comunicacion|escalation|"
    r"escalonamento|escalamiento|escalada|stakeholders|(roles|papeis)( (and|e|y) respons\w*)?|raci)"
    r"( (procedures?|procedimentos?|plan|plano|steps|passos|process|processo|criteria|criterios|rapido|completo|guide|guia|"
    r"quick|full|contacts?|contatos?|de emergencia|emergency|team|time|list|lista|commands?|comandos|scripts?))*$")
# A section about undoing or recovering (its title's head word, after any "Step 4.1:" label): what to do if the
# night goes wrong, not the night's steps. "Deploy with automatic rollback" is about deploying.
_UNDO = (r"(rollback|roll back|revert\w*|reverter|revertir|restore|restaur\w*|recover\w*|recupera\w*|fallback|"
         r"disaster recovery|desfazer|deshacer|retour arriere)")
_LABEL = (r"^((step|paso|passo|etape|metodo|method|option|opcion|opcao|niveau|level|nivel|tier)\s*[\w.]*\s*[:.)-]\s*)?"
          r"(\d+(\.\d+)*\.?\s+)?")
_NOT_UNDO = re.compile(r"\b(rehears\w*|drill|test\w*|ensaio|simulac\w*|prueba|exercis\w*|deploy\w*|canary|shift|"
                       r"rollout|release|cutover|promot\w*|traffic|trafego|implanta\w*|despliegue|lancamento)\b")


# A record rather than work to do: what was run, evidence, the current status.
RECORD_TITLE = re.compile(r"evidenc\w*|\b(executad[oa]s?|ejecutad[oa]s?|executed)\b|status atual|estado actual|"
                          r"current status")
# Trying the safety net rather than the night: injected failures, chaos, game days, drills.
FAULT_DRILL = re.compile(r"simula\w* (failure|fault|outage|falha|fallo|erro)|(failure|fault|falha|fallo) "
                         r"(test|injection|simulation|inje\w+|simula\w+)|fault injection|inje\w+ (de )?(falha|fallo)|"
                         r"\bchaos\b|game ?day")
# "# scripts/monitor.sh" at the top of a block: the block is that file's contents, to save, not to run now.
FILE_HEADER = re.compile(r"\s*#\s*(\./)?[\w.-]+(/[\w.-]+)*\.(sh|bash|py|rb|js|ts|pl|ps1)\s*$")


# Words that open a condition: a sentence before a block ("If a rollback is required, revert …:") or a title
# ("If health checks fail") so opened says what to do when something goes wrong. "When ready, run:" is the
# order of things, not a condition.
CONDITION_START = re.compile(r"(if|se|si|in case|em caso|en caso|caso|should|unless|only if|falls|wenn|en cas)\b")


def contingent(title: str) -> bool:
    """'Paso 4.1: Rollback en Vercel', 'Local Build Rollback': yes. 'Rollback rehearsal in staging', 'Deploy with
    automatic rollback', 'Reverse proxy cutover', 'Rollback automatico: configurar o gatilho': no. A title that
    is a condition ('If health checks fail') is contingent too."""
    t = re.sub(r"\(.*?\)", " ", fold(title)).strip(" .:-")
    t = t.rsplit(":", 1)[-1].strip()  # "Rollback automatico: configurar o gatilho" is about configuring
    if CONDITION_START.match(t):
        return True  # "If health checks fail", "Se o deploy falhar": what to do when something goes wrong
    if _NOT_UNDO.search(t):
        return False
    rest = t[re.match(_LABEL, t).end():]  # type: ignore[union-attr]
    if re.search(rf"\bautomat\w* {_UNDO}\b", rest):
        return True  # "Automated rollback procedure": what the system does when the night goes wrong
    return bool(re.match(rf"{_UNDO}\b", rest) or re.search(rf"(?<!\bwith )(?<!\bcom )(?<!\bcon )(?<!\band )(?<!\be )"
                                                         rf"(?<!\by )(?<!\bet )\b{_UNDO}$", rest))


# Where criteria are triggers. A bare "Rollback" title is a procedure, not a list of criteria.
# "Trigger" alone is how to start the deploy ("Trigger: run the workflow"); triggers, or a trigger of something, stop it.
CRITERIA_TITLE = re.compile(r"criteri|triggers|\w+ trigger|trigger (conditions?|rules?|criteria)|gatilho|\bhalt|abort|stop (rule|condition)|kill.?switch|"
                            r"when to (roll ?back|revert|stop)|quando (fazer )?(rollback|reverter|parar)|"
                            r"decision|decisao|go.?no.?go")
# A heading that says its criteria stop the night: an item under it that names no action of its own rolls back.
TRIGGER_TITLE = re.compile(r"trigger|gatilho|\bhalt|abort|stop (rule|condition)|kill.?switch|roll ?back|revert|"
                           r"quando (fazer )?(rollback|reverter|parar)")
ACCEPTANCE_TITLE = re.compile(r"aceit|acceptance|success criteria|criterios de sucesso|definition of done|"
                              r"definicao de pronto|exit criteria")
OPTION_TITLE = re.compile(r"^(option|opcao|alternativ[a-z]*|approach|abordagem|caminho)\s+([a-z0-9])\b")
OPTIONAL_TITLE = re.compile(r"\b(optional|opcional|if needed|se necessario|if required|caso necessario)\b")
EXPECTED_TEXT = re.compile(r"expected (output|result|response)|should (print|return|show|output|see)|"
                           r"saida esperada|resultado esperado|resposta esperada|deve (retornar|mostrar|exibir|"
                           r"imprimir)|output:|saida:|you should see|voce deve ver")
OUTPUT_LANGS = {"text", "txt", "output", "plaintext", "log", "json", "yaml", "yml", "http", "diff", "ini", "toml"}
SCRIPT_SYNTAX = re.compile(r"^\s*(if|for|while|until|case|function)\b|\b(then|do)\s*$|<<-?\s*['\"]?\w+|"
                           r"^\s*\w+\s*\(\)\s*\{|^\s*[{}]\s*$", re.M)
_COMMAND_START = re.compile(r"(sudo\s+)?([./~$]|[a-z_][\w.+-]*(\s|$))")


def reads_as_command(line: str) -> bool:
    """`kubectl get pods`, `./deploy.sh`, `DIR=/x`: yes. 'Hello team,', '- [ ] check the dashboard', 'Subject: …',
    'Deploy finished.': no (a capital, a bullet, a sentence's end)."""
    text = line.strip()
    if re.match(r"[A-Za-z_]\w*=", text):
        return True
    return bool(_COMMAND_START.match(text)) and not re.match(r"[-*+]\s|\d+[.)]\s|\[[ xX]\]", text) and \
        not re.search(r"[a-z][.!?]$|:$", text)


_QUOTED = re.compile(r"'[^']*'|\"(?:[^\"\\]|\\.)*\"", re.S)
_ASSIGN = re.compile(r"^\s*(?:export\s+|local\s+|readonly\s+)?([A-Za-z_]\w*)=", re.M)


def is_script(lines: list[str]) -> bool:
    """Lines that share one shell: control flow, a shebang or `set -e`, a variable set then used, a `cd` or a
    bare `ssh host` before other commands, a tool's context selected before others (see TOOL_CONTEXT). Split
    into one shell each, `rm -rf $DIR/$STAMP` would lose $DIR."""
    text = "\n".join(lines)
    code = _QUOTED.sub("''", text)  # a JSON body's braces in `curl -d '{…}'` are not the shell's
    commands = [ln.strip() for ln in code.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    if SCRIPT_SYNTAX.search(code) or text.lstrip().startswith("#!") or re.search(r"^\s*set\s+-\w", code, re.M):
        return True
    if any(re.search(rf"\${{?{re.escape(name)}\b", text) for name in _ASSIGN.findall(code)):
        return True
    if any(CONTEXT_COMMAND.match(c) for c in commands[:-1]):
        return True
    timed = any(re.match(r"sleep\s", c) or (PERCENT_FLAG.search(c) and TRAFFIC_WORDS.search(c)) for c in commands)
    return not timed and any(TOOL_CONTEXT.match(c) for c in commands[:-1])


# Commands that change the shell the next lines run in (a directory, a host, a user, variables, PATH).
CONTEXT_COMMAND = re.compile(r"(cd|pushd|source|\.|export)\s|ssh\s+[^\s'\"]+(\s+-\S+)*$|su\s|sudo\s+-[isu]\b|"
                             r"nvm\s+use\b|conda\s+activate\b|workon\s")
# Commands that select what a tool acts on next (the branch checked out, the cluster, project or environment):
# the lines after one were written for that state, so the block is one sequence, unless it also moves traffic
# or waits: those are the night's own steps, which shipdeck takes and times, and the state is on disk anyway.
TOOL_CONTEXT = re.compile(r"git\s+(checkout|switch)\s|kubectl\s+config\s+(use-context|set-context)\b|kubectx\s|"
                          r"kubens\s|oc\s+project\s|\S+\s+(environment|link|workspace\s+select|config\s+set|"
                          r"account\s+set)\s")
# A value to fill in before the command can run: <host>, [commit-hash], YOUR_TOKEN, ${{ placeholder }}.
PLACEHOLDER = re.compile(r"<[A-Za-z][\w.-]*(?:[ _-][\w.-]+)*>|\[(?![a-z]-[a-z]\])[a-z][a-z-]*[a-z]\]|\bYOUR[_-][A-Z_]+\b|"
                         r"\b(?:x{3,}|X{3,})\b|\{\{\s*\w+\s*\}\}")


TIME_RANGE = re.compile(r"\b(\d{1,2}):(\d{2})\s*[-–]\s*(\d{1,2}):(\d{2})\b")
SHELL_LANGS = {"bash", "sh", "shell", "zsh", "console", "shell-session", "powershell", "ps1", "cmd", ""}

_NUM_UNITS = {"ms": 0.001, "s": 1, "seg": 1, "sec": 1, "segundo": 1, "second": 1, "m": 60, "min": 60,
              "minuto": 60, "minute": 60, "h": 3600, "hora": 3600, "hour": 3600, "d": 86400, "dia": 86400,
              "day": 86400}
_RANGE = r"(?:\s*(?:[-–]|a|to|at[eé]|y)\s*\d+)?"  # "2-4 horas", "20 a 30 minutos": the shorter wait, written first
WAIT_TEXT = re.compile(
    r"\b(aguard\w*|esper\w*|wait\w*|bake|sleep|hold|monitor\w*|observ\w*|watch|vigiar|acompanhar)\b"
    rf"(?:\s+\w+){{0,2}}?\s+(\d+){_RANGE}\s*(ms|s|seg\w*|sec\w*|min\w*|m|h|hora\w*|hour\w*|dias?|days?)\b", re.I)
PERCENT_PROSE = re.compile(
    r"(\d{1,3})\s*%\s*(?:do|of|de|of the|da)?\s*(?:tr[aá]fego|traffic)|"
    r"(?:switch|shift|move|route|redirect\w*|direcionar|redirecionar|mover|enrut\w*|encaminh\w*)\w*\s+(\d{1,3})\s*%|"
    # "Increase to 25%", "Expandir para 50%": an order at the start, never "if the error rate increases to 5%"
    r"^\W*(?:increase|expand|ramp|promote|raise|aumentar|expandi\w*|ampliar|subir|incrementar|avan[cç]ar|avanzar)\w*"
    r"(?:\s+\w+){0,2}?\s+(?:to|para|a|al|at[eé]|hasta)\s+~?(\d{1,3})\s*%|"
    r"^\W*(?:rollout|target|traffic|tr[aá]fego|canary|can[aá]rio|initial|inicial)\s*:\s*~?(\d{1,3})\s*%", re.I)
STAGE_DURATION = re.compile(r"(?:duration|dura[cç][aã]o|duraci[oó]n|hold for|manter por|mantener|monitoring period|"
                            r"per[ií]odo de monitora\w*)(?:\s+(?:m[ií]nim[ao]|minimum|min))?\s*:?\s*(\d+)"
                            rf"{_RANGE}\s*"
                            r"(ms|s|seg\w*|sec\w*|min\w*|m|h|hora\w*|hour\w*|d|dias?|days?)\b", re.I)
# How long a stage holds the weight it just moved to, in the same sentence: "10% traffic for 30 minutes".
HOLD_FOR = re.compile(rf"\W*(?:for|por|durante|during)\s+(?:at least\s+|pelo menos\s+|al menos\s+)?(\d+){_RANGE}\s*"
                      r"(min\w*|m|h|hora\w*|hour\w*|dias?|days?)\b", re.I)
# A stage's heading: "Fase 1: Canary 5% (30 min)", "Increase to 25%", "Stage 3: Beta (25% traffic)".
HEADING_PERCENT = re.compile(r"(?<![<>≤≥=\d.,])\s*~?(\d{1,3})\s*%")
HEADING_TRAFFIC = re.compile(r"canary|can[aá]rio|rollout|traffic|tr[aá]fego|cutover|virada|shift|switch|stage|fase|"
                             r"phase|etapa|increase|aumentar|expan|ramp|promot|users|usu[aá]rios|usuarios|cohort|day\b|"
                             r"dia\b|full", re.I)
# "(30 min)", "(5% traffic, 12 hours)": the stage's planned length
HEADING_SPAN = re.compile(rf"\((?:[^()]*?[,;]\s*)?(\d+){_RANGE}\s*(min\w*|h|hora\w*|hour\w*|dias?|days?)\)", re.I)
NOT_STEPS_TITLE = re.compile(r"communicat|comunica|status update|atualizac\w* de status|mensage|\be-?mails?\b|"
                             r"(message|chat|slack|status)\s*templates?|templates?\s+(de\s+|for\s+)?(message|mensage|"
                             r"e-?mail|comunica|status)|override|manual controls?|controles? manua|emergency controls?|"
                             r"controles? de emerg|operator controls|comandos de emerg|alert(ing)? configuration|"
                             r"configurac\w* de alertas")
REPORT_TEXT = re.compile(r"\b[hx]{2}:[mx]{2}\b|\{\{?\s*\w+\s*\}?\}|\[(time|hora|horario)\]|"
                         r"\b(shifted|switched|routed|moved|migrated|completed|migrad[oa]s?|conclu[ií]d[oa]s?|"
                         r"redirecionad[oa]s?|ativ[oa]|active|live|em andamento|in progress|en curso|monitorad[oa]|"
                         r"monitored)\b", re.I)
ARROW = re.compile(r"\s*(?:→|->|=>|⇒|➜|⟶|➔)\s*")
BARE_PERCENT = re.compile(r"(?:(?:then|depois|luego|and|e)\s+)?(\d{1,3})\s*%(?:\s+\w+)?", re.I)
PERCENT_FLAG = re.compile(r"(--?(?:percentage|percent|weight|pct|traffic|green|canary)[=\s]+|"
                          r"canary[-_.]weight[\"']?\s*[:=]\s*[\"']?)(\d{1,3})\b", re.I)
TARGET_FLAG = re.compile(r"(--?(?:target|to|color|colour)[=\s]+)(\w+)", re.I)
TRAFFIC_WORDS = re.compile(r"traffic|tr[aá]fego|switch|shift|weight|canary", re.I)


def seconds_of(number: str, unit: str) -> float:
    unit = unit.lower()
    for key in sorted(_NUM_UNITS, key=len, reverse=True):
        if unit.startswith(key):
            return float(number) * _NUM_UNITS[key]
    return float(number) * 60


def plain(text: str) -> str:
    return re.sub(r"\s+", " ", unmark(text)).strip()


def quoted(lines: list[str]) -> list[str]:
    """A block's lines as notes, indented as the block was set apart; blank lines dropped."""
    return ["    " + ln.rstrip() for ln in lines if ln.strip()]
