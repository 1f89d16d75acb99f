/*
 * lex.c — the SQL tokenizer. Turns source bytes into tokens that carry their
 * byte slice and their line and column (columns count characters, not
 * bytes, so messages point where a person looks). Handles "quoted"
 * identifiers ("" escapes a quote), 'strings' ('' escapes a quote),
 * integers, decimals and exponents, -- and block comments, and every
 * operator Druid SQL has. Keywords are not classified here: the parser asks
 * sql_tok_is() because most keywords are also valid identifiers.
 *
 * Entry points: sql_lex_init(), sql_lex_next(), sql_tok_is().
 */
#include "sql/sql_int.h"

#include <string.h>

void sql_lex_init(struct sql_lexer *lx, const char *src, size_t len)
{
    lx->src = src;
    lx->len = len;
    lx->off = 0;
    lx->line = 1;
    lx->col = 1;
}

/* Advances one byte, keeping line/column (UTF-8 continuation bytes do not
 * start a new column). */
static void adv(struct sql_lexer *lx)
{
    unsigned char ch = (unsigned char)lx->src[lx->off++];
    if (ch == '\n') {
        lx->line++;
        lx->col = 1;
    } else if ((ch & 0xC0) != 0x80) {
        lx->col++;
    }
}

static int peek(const struct sql_lexer *lx, size_t k)
{
    return lx->off + k < lx->len ? (unsigned char)lx->src[lx->off + k] : -1;
}

static bool is_ident_start(int ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' || ch >= 0x80;
}

static bool is_ident_char(int ch)
{
    return is_ident_start(ch) || (ch >= '0' && ch <= '9') || ch == '$';
}

static bool is_digit(int ch) { return ch >= '0' && ch <= '9'; }

/* Skips blanks and comments; false (with *why) on an unterminated comment. */
static bool skip_space(struct sql_lexer *lx, const char **why)
{
    for (;;) {
        int ch = peek(lx, 0);
        if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v') {
            adv(lx);
        } else if (ch == '-' && peek(lx, 1) == '-') {
            while (lx->off < lx->len && lx->src[lx->off] != '\n')
                adv(lx);
        } else if (ch == '/' && peek(lx, 1) == '*') {
            adv(lx);
            adv(lx);
            for (;;) {
                if (lx->off >= lx->len) {
                    *why = "unterminated comment (close it with */)";
                    return false;
                }
                if (lx->src[lx->off] == '*' && peek(lx, 1) == '/') {
                    adv(lx);
                    adv(lx);
                    break;
                }
                adv(lx);
            }
        } else {
            return true;
        }
    }
}

void sql_lex_next(struct sql_lexer *lx, struct sql_token *t, const char **why)
{
    *why = NULL;
    size_t save_off = lx->off;
    uint32_t save_line = lx->line, save_col = lx->col;
    bool ok = skip_space(lx, why);
    if (!ok) {
        /* point at the comment's start */
        t->kind = TK_ERROR;
        t->off = (uint32_t)save_off;
        t->len = 0;
        t->line = save_line;
        t->col = save_col;
        (void)save_off;
        return;
    }
    t->off = (uint32_t)lx->off;
    t->line = lx->line;
    t->col = lx->col;
    int ch = peek(lx, 0);
    if (ch < 0) {
        t->kind = TK_EOF;
        t->len = 0;
        return;
    }
    if (is_ident_start(ch)) {
        while (is_ident_char(peek(lx, 0)))
            adv(lx);
        t->kind = TK_IDENT;
    } else if (ch == '"' || ch == '\'' || ch == '`') {
        int q = ch;
        adv(lx);
        for (;;) {
            if (lx->off >= lx->len) {
                t->kind = TK_ERROR;
                *why = q == '\'' ? "unterminated string literal (close it with ')"
                                 : "unterminated quoted identifier (close it with \")";
                t->len = (uint32_t)(lx->off - t->off);
                return;
            }
            if (peek(lx, 0) == q) {
                adv(lx);
                if (peek(lx, 0) == q) {
                    adv(lx);
                    continue;
                }
                break;
            }
            adv(lx);
        }
        t->kind = q == '\'' ? TK_STRING : TK_QIDENT;
    } else if (is_digit(ch) || (ch == '.' && is_digit(peek(lx, 1)))) {
        bool dec = false;
        while (is_digit(peek(lx, 0)))
            adv(lx);
        if (peek(lx, 0) == '.' && is_digit(peek(lx, 1))) {
            dec = true;
            adv(lx);
            while (is_digit(peek(lx, 0)))
                adv(lx);
        } else if (peek(lx, 0) == '.' && !is_ident_start(peek(lx, 1))) {
            dec = true; /* "1." */
            adv(lx);
        }
        if ((peek(lx, 0) == 'e' || peek(lx, 0) == 'E') &&
            (is_digit(peek(lx, 1)) ||
             ((peek(lx, 1) == '+' || peek(lx, 1) == '-') && is_digit(peek(lx, 2))))) {
            dec = true;
            adv(lx);
            if (peek(lx, 0) == '+' || peek(lx, 0) == '-')
                adv(lx);
            while (is_digit(peek(lx, 0)))
                adv(lx);
        }
        if (is_ident_start(peek(lx, 0))) {
            while (is_ident_char(peek(lx, 0)))
                adv(lx);
            t->kind = TK_ERROR;
            *why = "malformed number (put an operator or a space between a number and a word)";
            t->len = (uint32_t)(lx->off - t->off);
            return;
        }
        t->kind = dec ? TK_DECIMAL : TK_INTEGER;
    } else {
        int n1 = peek(lx, 1);
        int kind = TK_ERROR, width = 1;
        switch (ch) {
        case '(': kind = TK_LPAREN; break;
        case ')': kind = TK_RPAREN; break;
        case ',': kind = TK_COMMA; break;
        case '.': kind = TK_DOT; break;
        case ';': kind = TK_SEMI; break;
        case '[': kind = TK_LBRACKET; break;
        case ']': kind = TK_RBRACKET; break;
        case '+': kind = TK_PLUS; break;
        case '-': kind = TK_MINUS; break;
        case '*': kind = TK_STAR; break;
        case '/': kind = TK_SLASH; break;
        case '%': kind = TK_PERCENT; break;
        case '?': kind = TK_PARAM; break;
        case ':': kind = TK_COLON; break;
        case '=':
            kind = TK_EQ;
            if (n1 == '=')
                width = 2;
            break;
        case '|':
            if (n1 == '|') {
                kind = TK_CONCAT;
                width = 2;
            }
            break;
        case '!':
            if (n1 == '=') {
                kind = TK_NE;
                width = 2;
            }
            break;
        case '<':
            kind = TK_LT;
            if (n1 == '=') {
                kind = TK_LE;
                width = 2;
            } else if (n1 == '>') {
                kind = TK_NE;
                width = 2;
            }
            break;
        case '>':
            kind = TK_GT;
            if (n1 == '=') {
                kind = TK_GE;
                width = 2;
            }
            break;
        default: break;
        }
        if (kind == TK_ERROR)
            *why = "unexpected character";
        for (int i = 0; i < width; i++)
            adv(lx);
        t->kind = (uint8_t)kind;
    }
    t->len = (uint32_t)(lx->off - t->off);
}

bool sql_tok_is(const struct sql_lexer *lx, const struct sql_token *t, const char *kw)
{
    if (t->kind != TK_IDENT)
        return false;
    size_t n = strlen(kw);
    if (n != t->len)
        return false;
    const char *p = lx->src + t->off;
    for (size_t i = 0; i < n; i++) {
        char a = p[i];
        if (a >= 'a' && a <= 'z')
            a = (char)(a - 'a' + 'A');
        if (a != kw[i])
            return false;
    }
    return true;
}
