/*
 * test_sql.c — the SQL front end without the time library's zones:
 * table-driven expression cases (expression, row, expected value | NULL |
 * error) over every scalar function family, null propagation and
 * coercions, then the lexer and parser edges, error positions, the
 * compile API (types, references, aggregation mappings), batch evaluation,
 * aggregators (add / merge / finalize / serialize), SELECT binding, and the
 * limits: nesting, list sizes, linear work on huge chains, budgets charged.
 * Time functions are in test_sql_time.c.
 */
#include "check.h"
#include "sql/sql_cases.h"
#include "sql/sql.h"
#include "util/budget.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct sql_case cases[] = {
    /* literals and identifiers */
    {"1", 0, "1"},
    {"-1", 0, "-1"},
    {"1.5", 0, "1.5"},
    {"1e3", 0, "1000.0"},
    {"1.5E-3", 0, "0.0015"},
    {".5", 0, "0.5"},
    {"'it''s'", 0, "it's"},
    {"''", 0, ""},
    {"NULL", 0, NULL},
    {"TRUE", 0, "true"},
    {"FALSE", 0, "false"},
    {"s", 0, "abc"},
    {"\"s\"", 0, "abc"},
    {"\"Page\"", 0, "Main Page"},
    {"Page", 0, "Main Page"},
    {"\"page\"", 0, "!unknown input field 'page'"},
    {"n", 0, "5"},
    {"d", 0, "2.5"},
    {"f", 0, "1.5"},
    {"z", 0, NULL},
    {"e", 0, ""},
    {"-9223372036854775808", 0, "-9223372036854775808"},
    {"9223372036854775808", 0, "!out of range"},
    {"1 -- a comment", 0, "1"},
    {"/* block */ 2 /* another */", 0, "2"},
    {"1 +\n -- line\n 2", 0, "3"},
    {"/* open", 0, "!unterminated comment"},
    {"'open", 0, "!unterminated string"},
    {"\"open", 0, "!unterminated quoted identifier"},
    /* arithmetic */
    {"1 + 2", 0, "3"},
    {"7 / 2", 0, "3"},
    {"-7 / 2", 0, "-3"},
    {"7.0 / 2", 0, "3.5"},
    {"7 / 2.0", 0, "3.5"},
    {"n / 2", 0, "2"},
    {"d * 2", 0, "5.0"},
    {"n * d", 0, "12.5"},
    {"n - neg", 0, "12"},
    {"n + f", 0, "6.5"},
    {"7 % 3", 0, "1"},
    {"-7 % 3", 0, "-1"},
    {"MOD(7, 3)", 0, "1"},
    {"MOD(-7, 3)", 0, "-1"},
    {"MOD(7.5, 2)", 0, "1.5"},
    {"n / 0", 0, "~division by zero"},
    {"MOD(n, 0)", 0, "~MOD by zero"},
    {"1 / 0", 0, "~division by zero"},
    {"d / 0", 0, "Infinity"},
    {"-d / 0", 0, "-Infinity"},
    {"0.0 / 0", 0, "NaN"},
    {"SAFE_DIVIDE(n, 0)", 0, NULL},
    {"SAFE_DIVIDE(n, 2)", 0, "2"},
    {"SAFE_DIVIDE(d, 0)", 0, NULL},
    {"DIV(7, 2)", 0, "3"},
    {"DIV(7.9, 2)", 0, "3"},
    {"9223372036854775807 + 1", 0, "-9223372036854775808"},
    {"-n", 0, "-5"},
    {"-d", 0, "-2.5"},
    {"- -n", 0, "5"},
    {"+n", 0, "5"},
    {"1 + 2 * 3", 0, "7"},
    {"(1 + 2) * 3", 0, "9"},
    {"10 - 2 - 3", 0, "5"},
    {"2 * 3 / 4", 0, "1"},
    {"n + nl", 0, NULL},
    {"nl * 2", 0, NULL},
    {"d + nl", 0, NULL},
    {"num + 1", 0, "43"},
    {"num * 1.5", 0, "63.0"},
    {"num + 1", 2, NULL},
    {"'3' + '4'", 0, "7.0"},
    {"s + 1", 0, NULL},
    {"n + s", 0, NULL},
    {"j + 1", 0, "!needs numbers"},
    {"0.1 + 0.2", 0, "0.30000000000000004"},
    {"1e20 * 10", 0, "1.0E21"},
    {"1.0E-5 * 1", 0, "1.0E-5"},
    {"12345678.9 * 1", 0, "1.23456789E7"},
    {"1234567.0 * 1", 0, "1234567.0"},
    {"0.001 * 1", 0, "0.001"},
    {"0.0001 * 1", 0, "1.0E-4"},
    /* comparisons */
    {"1 = 1", 0, "true"},
    {"1 = 2", 0, "false"},
    {"1 <> 2", 0, "true"},
    {"1 != 2", 0, "true"},
    {"1 < 2", 0, "true"},
    {"2 <= 2", 0, "true"},
    {"3 > 2", 0, "true"},
    {"2 >= 3", 0, "false"},
    {"n = 5", 0, "true"},
    {"n = 5.0", 0, "true"},
    {"d > n", 0, "false"},
    {"s = 'abc'", 0, "true"},
    {"s <> 'abc'", 0, "false"},
    {"s < 'abd'", 0, "true"},
    {"s > 'ab'", 0, "true"},
    {"'B' < 'a'", 0, "true"},
    {"z = 'x'", 0, NULL},
    {"z <> 'x'", 0, NULL},
    {"nl = 1", 0, NULL},
    {"NULL = NULL", 0, NULL},
    {"num = 42", 0, "true"},
    {"num > 41.5", 0, "true"},
    {"num = 42", 2, NULL},
    {"'1.0' = 1", 0, "true"},
    {"e = ''", 0, "true"},
    {"e IS NULL", 0, "false"},
    {"b = TRUE", 0, "true"},
    {"'true' = TRUE", 0, "true"},
    {"s = TRUE", 0, "false"},
    {"b = 1", 0, "true"},
    {"b IN (TRUE)", 0, "true"},
    {"NULLIF(b, TRUE)", 0, NULL},
    {"b", 0, "true"},
    {"b", 2, "false"},
    {"s IS DISTINCT FROM 'abc'", 0, "false"},
    {"z IS DISTINCT FROM 'abc'", 0, "true"},
    {"z IS NOT DISTINCT FROM NULL", 0, "true"},
    {"nl IS NOT DISTINCT FROM 1", 0, "false"},
    /* logic, three-valued */
    {"TRUE AND TRUE", 0, "true"},
    {"TRUE AND FALSE", 0, "false"},
    {"TRUE AND NULL", 0, NULL},
    {"FALSE AND NULL", 0, "false"},
    {"NULL AND FALSE", 0, "false"},
    {"TRUE OR NULL", 0, "true"},
    {"FALSE OR NULL", 0, NULL},
    {"NULL OR NULL", 0, NULL},
    {"NOT TRUE", 0, "false"},
    {"NOT NULL", 0, NULL},
    {"NOT (n = 5)", 0, "false"},
    {"NOT n = 5", 0, "false"},
    {"z = 'a' OR n = 5", 0, "true"},
    {"z = 'a' AND n = 5", 0, NULL},
    {"z = 'a' AND n = 6", 0, "false"},
    {"n = 5 AND s = 'abc' AND d = 2.5", 0, "true"},
    {"n = 1 OR n = 2 OR n = 5", 0, "true"},
    {"NOT (z <> 'x')", 0, NULL},
    {"n AND 1", 0, "true"},
    {"0 OR 0", 0, "false"},
    {"'true' AND TRUE", 0, "true"},
    /* IS */
    {"z IS NULL", 0, "true"},
    {"z IS NOT NULL", 0, "false"},
    {"s IS NULL", 0, "false"},
    {"nl + 1 IS NULL", 0, "true"},
    {"(n = 5) IS TRUE", 0, "true"},
    {"(z = 'a') IS TRUE", 0, "false"},
    {"(z = 'a') IS NOT TRUE", 0, "true"},
    {"(z = 'a') IS FALSE", 0, "false"},
    {"(z = 'a') IS NOT FALSE", 0, "true"},
    {"(n = 4) IS FALSE", 0, "true"},
    {"(n = 4) IS UNKNOWN", 0, "false"},
    {"(z = 'a') IS UNKNOWN", 0, "true"},
    /* IN */
    {"n IN (1, 5, 7)", 0, "true"},
    {"n IN (1, 2)", 0, "false"},
    {"n NOT IN (1, 2)", 0, "true"},
    {"n NOT IN (1, 5)", 0, "false"},
    {"s IN ('x', 'abc')", 0, "true"},
    {"z IN ('x', 'abc')", 0, NULL},
    {"n IN (1, NULL)", 0, NULL},
    {"n IN (5, NULL)", 0, "true"},
    {"n NOT IN (1, NULL)", 0, NULL},
    {"n IN (1.5, 5.0)", 0, "true"},
    {"s IN ('a','b','c','d','e','f','g','abc')", 0, "true"},
    {"s IN ('a','b','c','d','e','f','g','h')", 0, "false"},
    {"s NOT IN ('a','b','c','d','e','f','g','h')", 0, "true"},
    {"n IN (1,2,3,4,5,6,7,NULL)", 0, "true"},
    {"n IN (1,2,3,4,6,7,8,NULL)", 0, NULL},
    {"num IN (42, 43)", 0, "true"},
    /* BETWEEN */
    {"n BETWEEN 1 AND 5", 0, "true"},
    {"n BETWEEN 6 AND 9", 0, "false"},
    {"n NOT BETWEEN 6 AND 9", 0, "true"},
    {"d BETWEEN 2 AND 3", 0, "true"},
    {"s BETWEEN 'a' AND 'b'", 0, "true"},
    {"nl BETWEEN 1 AND 2", 0, NULL},
    {"n BETWEEN NULL AND 2", 0, "false"},
    {"n BETWEEN NULL AND 9", 0, NULL},
    {"n BETWEEN 1 AND 5 AND s = 'abc'", 0, "true"},
    /* LIKE */
    {"s LIKE 'a%'", 0, "true"},
    {"s LIKE '%c'", 0, "true"},
    {"s LIKE '%b%'", 0, "true"},
    {"s LIKE 'a_c'", 0, "true"},
    {"s LIKE 'a_'", 0, "false"},
    {"s LIKE 'abc'", 0, "true"},
    {"s LIKE 'ABC'", 0, "false"},
    {"s NOT LIKE 'x%'", 0, "true"},
    {"z LIKE '%'", 0, NULL},
    {"e LIKE '%'", 0, "true"},
    {"e LIKE '_'", 0, "false"},
    {"'100%' LIKE '100\\%' ESCAPE '\\'", 0, "true"},
    {"'1000' LIKE '100\\%' ESCAPE '\\'", 0, "false"},
    {"'a_b' LIKE 'a#_b' ESCAPE '#'", 0, "true"},
    {"city LIKE 'S_o%'", 0, "true"},
    {"Page LIKE '%Page'", 0, "true"},
    {"'aaa' LIKE '%a%a%a%'", 0, "true"},
    {"'aa' LIKE '%a%a%a%'", 0, "false"},
    {"s LIKE 'a' ESCAPE 'xy'", 0, "!one character"},
    /* CASE */
    {"CASE WHEN n > 3 THEN 'big' ELSE 'small' END", 0, "big"},
    {"CASE WHEN n > 9 THEN 'big' ELSE 'small' END", 0, "small"},
    {"CASE WHEN n > 9 THEN 'big' END", 0, NULL},
    {"CASE WHEN z = 'a' THEN 1 WHEN n = 5 THEN 2 ELSE 3 END", 0, "2"},
    {"CASE WHEN z = 'a' THEN 1 ELSE 3 END", 0, "3"},
    {"CASE n WHEN 1 THEN 'one' WHEN 5 THEN 'five' END", 0, "five"},
    {"CASE n WHEN 1 THEN 'one' ELSE 'other' END", 0, "other"},
    {"CASE z WHEN 'a' THEN 1 ELSE 2 END", 0, "2"},
    {"CASE WHEN n = 5 THEN 1 ELSE 2.5 END", 0, "1.0"},
    {"CASE WHEN n = 5 THEN NULL ELSE 2 END", 0, NULL},
    {"CASE WHEN n = 5 THEN s ELSE 'x' END", 0, "abc"},
    {"CASE WHEN n = 5 THEN 1 ELSE 'x' END", 0, "1"},
    {"CASE s WHEN 'abc' THEN 'yes' END", 0, "yes"},
    {"CASE WHEN 1 = 0 THEN 1/0 ELSE 7 END", 0, "7"},
    {"CASE WHEN n > 1 THEN CASE WHEN n > 4 THEN 'a' ELSE 'b' END END", 0, "a"},
    {"CASE n WHEN 5.0 THEN 'f' END", 0, "f"},
    {"CASE WHEN n THEN 'truthy' END", 0, "truthy"},
    {"CASE END", 0, "!expected WHEN"},
    {"CASE WHEN n = 5 'x' END", 0, "!expected THEN"},
    /* CAST */
    {"CAST('123' AS BIGINT)", 0, "123"},
    {"CAST('abc' AS BIGINT)", 0, NULL},
    {"CAST('3.7' AS BIGINT)", 0, "3"},
    {"CAST('-3.7' AS INTEGER)", 0, "-3"},
    {"CAST(' 12 ' AS DOUBLE)", 0, "12.0"},
    {"CAST('1e2' AS DOUBLE)", 0, "100.0"},
    {"CAST('0x10' AS BIGINT)", 0, NULL},
    {"CAST('' AS BIGINT)", 0, NULL},
    {"CAST(n AS VARCHAR)", 0, "5"},
    {"CAST(d AS VARCHAR)", 0, "2.5"},
    {"CAST(f AS VARCHAR)", 0, "1.5"},
    {"CAST(n AS DOUBLE)", 0, "5.0"},
    {"CAST(d AS BIGINT)", 0, "2"},
    {"CAST(-2.5 AS BIGINT)", 0, "-2"},
    {"CAST(2.7 AS INTEGER)", 0, "2"},
    {"CAST(z AS BIGINT)", 0, NULL},
    {"CAST(1 AS BOOLEAN)", 0, "true"},
    {"CAST(0 AS BOOLEAN)", 0, "false"},
    {"CAST('true' AS BOOLEAN)", 0, "true"},
    {"CAST(TRUE AS BIGINT)", 0, "1"},
    {"CAST(1.5 AS FLOAT)", 0, "1.5"},
    {"CAST(0.1 AS FLOAT)", 0, "0.1"},
    {"CAST(0.1 AS REAL) * 1", 0, "0.10000000149011612"},
    {"CAST(n AS DECIMAL(10, 2))", 0, "5.0"},
    {"CAST(ts AS BIGINT)", 0, "946782245000"},
    {"CAST(ts AS VARCHAR)", 0, "2000-01-02 03:04:05"},
    {"CAST('2000-01-02 03:04:05' AS TIMESTAMP)", 0, "2000-01-02T03:04:05.000Z"},
    {"CAST('not a date' AS TIMESTAMP)", 0, NULL},
    {"CAST(946782245000 AS TIMESTAMP)", 0, "2000-01-02T03:04:05.000Z"},
    {"CAST(ts AS DATE)", 0, "2000-01-02T00:00:00.000Z"},
    {"CAST(TRUE AS VARCHAR)", 0, "true"},
    {"CAST(n AS VARCHAR(10))", 0, "5"},
    {"CAST(n AS CHARACTER VARYING)", 0, "5"},
    {"CAST(1e300 * 1e10 AS BIGINT)", 0, "9223372036854775807"},
    {"CAST(n AS WIDGET)", 0, "!unknown type 'WIDGET'"},
    {"CAST(n)", 0, "!expected AS"},
    {"TRY_CAST('x' AS BIGINT)", 0, NULL},
    /* COALESCE, NVL, NULLIF */
    {"COALESCE(z, 'x')", 0, "x"},
    {"COALESCE(z, nl, 3)", 0, "3"},
    {"COALESCE(s, 'x')", 0, "abc"},
    {"COALESCE(e, 'x')", 0, ""},
    {"COALESCE(z, NULL)", 0, NULL},
    {"COALESCE(nl, d)", 0, "2.5"},
    {"COALESCE(nl, n)", 0, "5"},
    {"COALESCE(z, n)", 0, "5"},
    {"NVL(z, 'dflt')", 0, "dflt"},
    {"NVL(s, 'dflt')", 0, "abc"},
    {"NVL(nl, 0)", 0, "0"},
    {"IFNULL(z, 'y')", 0, "y"},
    {"NVL(z)", 0, "!NVL takes 2 arguments but got 1"},
    {"NULLIF(s, 'abc')", 0, NULL},
    {"NULLIF(s, 'x')", 0, "abc"},
    {"NULLIF(n, 5)", 0, NULL},
    {"NULLIF(z, 'x')", 0, NULL},
    {"NULLIF(n, nl)", 0, "5"},
    {"COALESCE(NULLIF(e, ''), 'empty')", 0, "empty"},
    /* GREATEST, LEAST */
    {"GREATEST(1, 5, 3)", 0, "5"},
    {"LEAST(1, 5, 3)", 0, "1"},
    {"GREATEST(1, 2.5)", 0, "2.5"},
    {"GREATEST(n, nl, 2)", 0, "5"},
    {"LEAST(nl, z)", 0, NULL},
    {"GREATEST('a', 'b')", 0, "b"},
    {"GREATEST(10, '9')", 0, "9"},
    {"LEAST(neg, n, d)", 0, "-7.0"},
    /* math */
    {"ABS(neg)", 0, "7"},
    {"ABS(-2.5)", 0, "2.5"},
    {"ABS(nl)", 0, NULL},
    {"FLOOR(2.7)", 0, "2.0"},
    {"FLOOR(-2.5)", 0, "-3.0"},
    {"FLOOR(n)", 0, "5"},
    {"CEIL(2.1)", 0, "3.0"},
    {"CEILING(-2.1)", 0, "-2.0"},
    {"CEIL(n)", 0, "5"},
    {"ROUND(2.5)", 0, "3.0"},
    {"ROUND(-2.5)", 0, "-3.0"},
    {"ROUND(2.4)", 0, "2.0"},
    {"ROUND(3.14159, 2)", 0, "3.14"},
    {"ROUND(2.675, 2)", 0, "2.68"},
    {"ROUND(1234.5, -2)", 0, "1200.0"},
    {"ROUND(1250, -2)", 0, "1300"},
    {"ROUND(-1250, -2)", 0, "-1300"},
    {"ROUND(1249, -2)", 0, "1200"},
    {"ROUND(n)", 0, "5"},
    {"ROUND(n, 2)", 0, "5"},
    {"ROUND(nl, 2)", 0, NULL},
    {"TRUNCATE(3.789, 1)", 0, "3.7"},
    {"TRUNCATE(-3.789, 2)", 0, "-3.78"},
    {"TRUNC(3.7)", 0, "3.0"},
    {"POWER(2, 10)", 0, "1024.0"},
    {"POWER(n, 2)", 0, "25.0"},
    {"POWER(4, 0.5)", 0, "2.0"},
    {"SQRT(16)", 0, "4.0"},
    {"SQRT(-1)", 0, "NaN"},
    {"SQRT(d)", 0, "1.5811388300841898"},
    {"CBRT(27)", 0, "3.0"},
    {"LN(1)", 0, "0.0"},
    {"LN(EXP(2))", 0, "2.0"},
    {"LOG10(1000)", 0, "3.0"},
    {"LOG10(0)", 0, "-Infinity"},
    {"EXP(0)", 0, "1.0"},
    {"EXP(nl)", 0, NULL},
    {"SIGN(neg)", 0, "-1"},
    {"SIGN(d)", 0, "1.0"},
    {"SIGN(0)", 0, "0"},
    {"SIN(0)", 0, "0.0"},
    {"COS(0)", 0, "1.0"},
    {"DEGREES(PI())", 0, "180.0"},
    {"RADIANS(180) = PI()", 0, "true"},
    {"ATAN2(1, 1) * 4 = PI()", 0, "true"},
    {"PI", 0, "!unknown input field 'PI'"},
    {"SQRT(s)", 0, NULL},
    {"SQRT(num)", 0, "6.48074069840786"},
    {"ABS(j)", 0, "!cannot take a COMPLEX<json>"},
    /* CONCAT and || */
    {"CONCAT(s, 'x')", 0, "abcx"},
    {"CONCAT(s, '-', n)", 0, "abc-5"},
    {"CONCAT(s, z)", 0, NULL},
    {"CONCAT(s, e, s)", 0, "abcabc"},
    {"CONCAT(d, '|', f)", 0, "2.5|1.5"},
    {"CONCAT('a')", 0, "a"},
    {"CONCAT(date, 'T', time)", 0, "2000-01-02T03:04:05"},
    {"CONCAT(date, 'T', time)", 1, NULL},
    {"CONCAT(b, '')", 0, "true"},
    {"CONCAT('a','b','c','d','e','f','g','h','i','j')", 0, "abcdefghij"},
    {"CONCAT(s,s,s,s,s,s,s,s,s,s)", 0, "abcabcabcabcabcabcabcabcabcabc"},
    {"CONCAT()", 0, "!at least 1 argument"},
    {"s || 'x'", 0, "abcx"},
    {"s || z", 0, NULL},
    {"'a' || 1 || 2.5", 0, "a12.5"},
    {"'n=' || n + 1", 0, NULL},
    {"'n=' || (n + 1)", 0, "n=6"},
    {"TEXTCAT(s, 'y')", 0, "abcy"},
    {"TEXTCAT('super-', s)", 0, "super-abc"},
    /* UPPER, LOWER, LENGTH, REVERSE */
    {"UPPER(s)", 0, "ABC"},
    {"LOWER('HeLLo')", 0, "hello"},
    {"UPPER(z)", 0, NULL},
    {"UPPER(city)", 0, "SÃO PAULO"},
    {"LOWER('ÀÉÎ Ωmega Привет')", 0, "àéî ωmega привет"},
    {"UPPER('straße')", 0, "STRAßE"},
    {"LOWER(s)", 0, "abc"},
    {"UPPER(n)", 0, "5"},
    {"LENGTH(s)", 0, "3"},
    {"LENGTH(e)", 0, "0"},
    {"LENGTH(z)", 0, NULL},
    {"LENGTH(city)", 0, "9"},
    {"LENGTH('😀')", 0, "2"},
    {"CHAR_LENGTH(s)", 0, "3"},
    {"CHARACTER_LENGTH('abcd')", 0, "4"},
    {"STRLEN(Page)", 0, "9"},
    {"REVERSE(s)", 0, "cba"},
    {"REVERSE(city)", 0, "oluaP oãS"},
    {"LENGTH(n)", 0, "1"},
    /* TRIM family */
    {"TRIM('  x  ')", 0, "x"},
    {"TRIM(BOTH 'x' FROM 'xxaxx')", 0, "a"},
    {"TRIM(LEADING 'x' FROM 'xxaxx')", 0, "axx"},
    {"TRIM(TRAILING 'x' FROM 'xxaxx')", 0, "xxa"},
    {"TRIM(BOTH FROM '  a  ')", 0, "a"},
    {"TRIM('xy' FROM 'xyaxyyx')", 0, "a"},
    {"TRIM(z)", 0, NULL},
    {"TRIM(BOTH z FROM 'a')", 0, NULL},
    {"BTRIM('  a ')", 0, "a"},
    {"BTRIM('xxaxx', 'x')", 0, "a"},
    {"LTRIM('  a ')", 0, "a "},
    {"RTRIM('  a ')", 0, "  a"},
    {"LTRIM('xxa', 'x')", 0, "a"},
    {"RTRIM('axx', 'x')", 0, "a"},
    {"TRIM('    ')", 0, ""},
    {"TRIM(BOTH 'ã' FROM 'ããoã')", 0, "o"},
    /* SUBSTRING, LEFT, RIGHT */
    {"SUBSTRING(s, 2)", 0, "bc"},
    {"SUBSTRING(s, 2, 1)", 0, "b"},
    {"SUBSTRING(s, 1, 2)", 0, "ab"},
    {"SUBSTRING(s, 0, 2)", 0, "a"},
    {"SUBSTRING(s, 5)", 0, ""},
    {"SUBSTRING(s, 2, 10)", 0, "bc"},
    {"SUBSTRING(s FROM 2 FOR 1)", 0, "b"},
    {"SUBSTRING(s FROM 2)", 0, "bc"},
    {"SUBSTRING(z, 1)", 0, NULL},
    {"SUBSTRING(s, nl)", 0, NULL},
    {"SUBSTRING(city, 2, 2)", 0, "ão"},
    {"SUBSTR('hello', 2, 3)", 0, "ell"},
    {"SUBSTRING('😀ab', 3)", 0, "ab"},
    {"SUBSTRING(s, 1, -1)", 0, "~must not be negative"},
    {"LEFT(s, 2)", 0, "ab"},
    {"LEFT(s, 10)", 0, "abc"},
    {"RIGHT(s, 2)", 0, "bc"},
    {"RIGHT(s, 0)", 0, ""},
    {"RIGHT(city, 5)", 0, "Paulo"},
    {"LEFT(z, 1)", 0, NULL},
    {"REPEAT('ab', 3)", 0, "ababab"},
    {"REPEAT('abc', 7)", 0, "abcabcabcabcabcabcabc"},
    {"LENGTH(REPEAT('é😀x', 5))", 0, "20"},
    {"LENGTH('São Paulo, 😀 and 東京 too')", 0, "24"},
    {"REPEAT('ab', 0)", 0, ""},
    {"REPEAT(s, nl)", 0, NULL},
    /* REPLACE, PAD, STRPOS, CONTAINS */
    {"REPLACE(s, 'b', 'XX')", 0, "aXXc"},
    {"REPLACE('aaa', 'a', 'b')", 0, "bbb"},
    {"REPLACE('aaa', 'aa', 'b')", 0, "ba"},
    {"REPLACE(s, 'q', 'z')", 0, "abc"},
    {"REPLACE(s, '', 'z')", 0, "abc"},
    {"REPLACE(s, 'b', '')", 0, "ac"},
    {"REPLACE(z, 'a', 'b')", 0, NULL},
    {"REPLACE(s, 'a', z)", 0, NULL},
    {"LPAD(s, 5, '*')", 0, "**abc"},
    {"RPAD(s, 5, '*')", 0, "abc**"},
    {"LPAD(s, 2, '*')", 0, "ab"},
    {"LPAD(s, 6, 'xy')", 0, "xyxabc"},
    {"RPAD(s, 6, 'xy')", 0, "abcxyx"},
    {"LPAD(s, 5)", 0, "  abc"},
    {"LPAD(z, 5, 'x')", 0, NULL},
    {"LPAD(s, 0, 'x')", 0, ""},
    {"STRPOS(s, 'b')", 0, "2"},
    {"STRPOS(s, 'z')", 0, "0"},
    {"STRPOS(s, '')", 0, "1"},
    {"STRPOS(city, 'P')", 0, "5"},
    {"POSITION('c' IN s)", 0, "3"},
    {"POSITION('b' IN 'abcb' FROM 3)", 0, "4"},
    {"POSITION('b' IN 'abcb' FROM 5)", 0, "0"},
    {"POSITION('a' IN 'abcb' FROM 0)", 0, "1"},
    {"STRPOS(z, 'a')", 0, NULL},
    {"CONTAINS_STRING(s, 'bc')", 0, "true"},
    {"CONTAINS_STRING(s, 'BC')", 0, "false"},
    {"ICONTAINS_STRING(s, 'BC')", 0, "true"},
    {"CONTAINS_STRING(z, 'a')", 0, NULL},
    /* PARSE_LONG */
    {"PARSE_LONG('123')", 0, "123"},
    {"PARSE_LONG('ff', 16)", 0, "255"},
    {"PARSE_LONG('0xff', 16)", 0, "255"},
    {"PARSE_LONG('-101', 2)", 0, "-5"},
    {"PARSE_LONG('12x')", 0, NULL},
    {"PARSE_LONG(z)", 0, NULL},
    {"PARSE_LONG('9223372036854775808')", 0, NULL},
    /* regular expressions */
    {"REGEXP_EXTRACT('foo123bar', '[0-9]+')", 0, "123"},
    {"REGEXP_EXTRACT('foo123bar', '\\d+')", 0, "123"},
    {"REGEXP_EXTRACT('foo123bar', '([a-z]+)(\\d+)', 2)", 0, "123"},
    {"REGEXP_EXTRACT('foo123bar', '([a-z]+)(\\d+)', 1)", 0, "foo"},
    {"REGEXP_EXTRACT('foo', '\\d+')", 0, NULL},
    {"REGEXP_EXTRACT(z, 'a')", 0, NULL},
    {"REGEXP_EXTRACT(Page, '^M\\w+')", 0, "Main"},
    {"REGEXP_EXTRACT('a', '(')", 0, "!regular expression"},
    {"REGEXP_EXTRACT('a', s)", 0, "!must be a string literal"},
    {"REGEXP_EXTRACT('ab', '(a)(b)', 3)", 0, "!group argument"},
    {"REGEXP_LIKE(s, '^a')", 0, "true"},
    {"REGEXP_LIKE(s, 'b')", 0, "true"},
    {"REGEXP_LIKE(s, '^b')", 0, "false"},
    {"REGEXP_LIKE(s, '(?i)ABC')", 0, "true"},
    {"REGEXP_LIKE(z, 'a')", 0, NULL},
    {"REGEXP_LIKE(Page, 'Main\\s+Page')", 0, "true"},
    {"REGEXP_REPLACE('a1b22', '[0-9]+', '#')", 0, "a#b#"},
    {"REGEXP_REPLACE('john smith', '(\\w+) (\\w+)', '$2 $1')", 0, "smith john"},
    {"REGEXP_LIKE(s, 'a*?')", 0, "!regular expression"},
    /* JSON */
    {"JSON_VALUE(j, '$.q')", 0, "str"},
    {"JSON_VALUE(j, '$.a.b[0]')", 0, "1"},
    {"JSON_VALUE(j, '$.a.b[2].c')", 0, "x"},
    {"JSON_VALUE(j, '$[''a''][''b''][1]')", 0, "2"},
    {"JSON_VALUE(j, '$.a')", 0, NULL},
    {"JSON_VALUE(j, '$.a.b')", 0, NULL},
    {"JSON_VALUE(j, '$.missing')", 0, NULL},
    {"JSON_VALUE(j, '$.n')", 0, NULL},
    {"JSON_VALUE(j, '$.p')", 0, "955.0"},
    {"JSON_VALUE(j, '$.p' RETURNING BIGINT)", 0, "955"},
    {"JSON_VALUE(j, '$.p' RETURNING DOUBLE)", 0, "955.0"},
    {"JSON_VALUE(j, '$.k' RETURNING BIGINT) + 1", 0, "13"},
    {"JSON_VALUE(j, '$.q' RETURNING BIGINT)", 0, NULL},
    {"JSON_VALUE(j, '$.t')", 0, "true"},
    {"JSON_VALUE(j, '$.eA')", 0, "esc\n"},
    {"JSON_VALUE(j, '$.a.b[9]')", 0, NULL},
    {"JSON_VALUE(j, 'a.b')", 0, "!invalid JSON path"},
    {"JSON_VALUE(n, '$.a')", 0, "!needs a JSON value"},
    {"JSON_VALUE(PARSE_JSON('{\"x\": {\"y\": 7}}'), '$.x.y')", 0, "7"},
    {"JSON_VALUE('{\"x\": 1}', '$.x')", 0, "1"},
    {"JSON_VALUE(j, '$.q' RETURNING VARCHAR)", 0, "str"},
    {"JSON_QUERY(j, '$.a')", 0, "{\"b\": [1, 2, {\"c\": \"x\"}]}"},
    {"JSON_QUERY(j, '$.a.b[2]')", 0, "{\"c\": \"x\"}"},
    {"JSON_QUERY(j, '$.q')", 0, "\"str\""},
    {"JSON_QUERY(j, '$.zz')", 0, NULL},
    {"JSON_QUERY(j, '$.n')", 0, NULL},
    {"TO_JSON_STRING(JSON_QUERY(j, '$.a'))", 0, "{\"b\":[1,2,{\"c\":\"x\"}]}"},
    {"TO_JSON_STRING(s)", 0, "\"abc\""},
    {"TO_JSON_STRING(n)", 0, "5"},
    {"TO_JSON_STRING(z)", 0, NULL},
    {"TO_JSON_STRING(PARSE_JSON(' [1, 2 , 3] '))", 0, "[1,2,3]"},
    {"PARSE_JSON('{\"a\": 1}')", 0, "{\"a\": 1}"},
    {"PARSE_JSON('{bad')", 0, "~PARSE_JSON: invalid JSON"},
    {"TRY_PARSE_JSON('{bad')", 0, NULL},
    {"TRY_PARSE_JSON('\"x\"')", 0, "\"x\""},
    {"PARSE_JSON(z)", 0, NULL},
    {"PARSE_JSON('null')", 0, NULL},
    {"JSON_VALUE(j, '$.a.b[0]') = '1'", 0, "true"},
    /* Druid's nested-data functions */
    {"JSON_KEYS(j, '$')", 0, "[\"a\",\"p\",\"q\",\"t\",\"n\",\"k\",\"eA\"]"},
    {"JSON_KEYS(j, '$.')", 0, "[\"a\",\"p\",\"q\",\"t\",\"n\",\"k\",\"eA\"]"},
    {"JSON_KEYS(j, '$.a')", 0, "[\"b\"]"},
    {"JSON_KEYS(j, '$.a.b')", 0, "[\"0\",\"1\",\"2\"]"},
    {"JSON_KEYS(j, '$.q')", 0, NULL},
    {"JSON_KEYS(j, '$.zz')", 0, NULL},
    {"JSON_KEYS(j, '$')", 1, NULL},
    {"JSON_KEYS('{}', '$')", 0, "[]"},
    {"JSON_KEYS(n, '$')", 0, "!needs a JSON value"},
    {"JSON_PATHS(j)", 0,
     "[\"$.a.b[0]\",\"$.a.b[1]\",\"$.a.b[2].c\",\"$.p\",\"$.q\",\"$.t\",\"$.n\",\"$.k\","
     "\"$.eA\"]"},
    {"JSON_PATHS(PARSE_JSON('{\"x.y\": 1, \"e\": {}, \"f\": [], \"g\": [[2]]}'))", 0,
     "[\"$['x.y']\",\"$.g[0][0]\"]"},
    {"JSON_PATHS(PARSE_JSON('7'))", 0, "[\"$\"]"},
    {"JSON_PATHS(z)", 0, NULL},
    {"JSON_PATHS(n)", 0, "!needs JSON values"},
    {"JSON_QUERY_ARRAY(j, '$.a.b')", 0, "[1,2,{\"c\":\"x\"}]"},
    {"ARRAY_LENGTH(JSON_QUERY_ARRAY(j, '$.a.b'))", 0, "3"},
    {"JSON_QUERY_ARRAY(j, '$.q')", 0, "[\"str\"]"},
    {"JSON_QUERY_ARRAY(j, '$.n')", 0, NULL},
    {"JSON_QUERY_ARRAY(j, '$.zz')", 0, NULL},
    {"JSON_QUERY_ARRAY(PARSE_JSON('[1, null]'), '$')", 0, "[1,null]"},
    {"JSON_OBJECT(KEY 'x' VALUE n, KEY 'y' VALUE s)", 0, "{\"x\":5,\"y\":\"abc\"}"},
    {"JSON_OBJECT('x' : n, 'j' : JSON_QUERY(j, '$.a'))", 0,
     "{\"x\":5,\"j\":{\"b\":[1,2,{\"c\":\"x\"}]}}"},
    {"JSON_OBJECT('x' : z, 'y' : 1)", 0, "{\"x\":null,\"y\":1}"},
    {"JSON_OBJECT('x' : z, 'y' : 1 NULL ON NULL)", 0, "{\"x\":null,\"y\":1}"},
    {"JSON_OBJECT('x' : z, 'y' : 1 ABSENT ON NULL)", 0, "{\"y\":1}"},
    {"JSON_OBJECT('a' : 1, 'b' : 2, 'a' : 3)", 0, "{\"b\":2,\"a\":3}"},
    {"JSON_OBJECT()", 0, "{}"},
    {"JSON_OBJECT(KEY 'a' VALUE ARRAY[1, 2])", 0, "{\"a\":[1,2]}"},
    {"JSON_OBJECT(KEY 1 VALUE 2)", 0, "!key 1 is BIGINT; a key must be a string"},
    {"JSON_OBJECT('a' 1)", 0, "!expected VALUE or ':'"},
    {"JSON_OBJECT(KEY s VALUE 1)", 1, "~key 1 is NULL"},
    {"TO_JSON_STRING(JSON_OBJECT('k' : 'v'))", 0, "{\"k\":\"v\"}"},
    {"JSON_MERGE('{\"a\": 1, \"b\": {\"x\": 1}}', '{\"b\": 2, \"c\": 3}')", 0,
     "{\"a\":1,\"b\":2,\"c\":3}"},
    {"JSON_MERGE(j, JSON_OBJECT('q' : 'new', 'z' : TRUE))", 0,
     "{\"a\":{\"b\":[1,2,{\"c\":\"x\"}]},\"p\":955.00,\"q\":\"new\",\"t\":true,\"n\":null,"
     "\"k\":12,\"eA\":\"esc\\n\",\"z\":true}"},
    {"JSON_MERGE('{\"a\": 1}', '{\"a\": 2}', '{\"a\": 3}')", 0, "{\"a\":3}"},
    {"JSON_MERGE('{\"a\": 1}', z)", 0, NULL},
    {"JSON_MERGE('{\"a\": 1}', '[1]')", 0, "~argument 2 is not a JSON object"},
    {"JSON_MERGE('{\"a\": 1}', n)", 0, "!argument 2 is BIGINT"},
    /* arrays */
    {"arr", 0, "[1,2,3]"},
    {"ARRAY_LENGTH(arr)", 0, "3"},
    {"ARRAY[1, 2, 3]", 0, "[1,2,3]"},
    {"ARRAY['a', s]", 0, "[\"a\",\"abc\"]"},
    {"ARRAY_LENGTH(ARRAY[1, 2])", 0, "2"},
    /* array functions over an input field whose element type is known only at run time */
    {"ARRAY_OFFSET(arr, 1)", 0, "2"},
    {"ARRAY_ORDINAL(arr, 4)", 0, NULL},
    {"ARRAY_CONTAINS(arr, 2)", 0, "true"},
    {"ARRAY_CONTAINS(arr, '3')", 0, "true"},
    {"ARRAY_CONTAINS(arr, 4)", 0, "false"},
    {"ARRAY_CONTAINS(arr, 2)", 1, NULL},
    {"ARRAY_LENGTH(arr)", 1, NULL},
    {"ARRAY_TO_STRING(arr, '-')", 0, "1-2-3"},
    {"ARRAY_APPEND(arr, 4)", 0, "[1,2,3,4]"},
    {"ARRAY_SLICE(arr, 1)", 0, "[2,3]"},
    {"MV_TO_ARRAY(arr)", 0, "[\"1\",\"2\",\"3\"]"},
    {"SCALAR_IN_ARRAY(n, arr)", 0, "false"},
    {"SCALAR_IN_ARRAY(n, ARRAY[5, 6])", 0, "true"},
    {"MV_OVERLAP(arr, ARRAY[3, 9])", 0, "true"},
    {"ARRAY_OFFSET_OF(arr, 3)", 0, "2"},
    {"LOOKUP(s, 'names')", 0, "!LOOKUP is only available in SQL queries"},
    /* null propagation over the all-NULL row */
    {"s", 1, NULL},
    {"UPPER(s)", 1, NULL},
    {"LOWER(s)", 1, NULL},
    {"TRIM(s)", 1, NULL},
    {"SUBSTRING(s, 1, 2)", 1, NULL},
    {"LENGTH(s)", 1, NULL},
    {"REPLACE(s, 'a', 'b')", 1, NULL},
    {"CONCAT('x', s)", 1, NULL},
    {"n + 1", 1, NULL},
    {"d * 2", 1, NULL},
    {"-n", 1, NULL},
    {"ABS(n)", 1, NULL},
    {"n = 5", 1, NULL},
    {"s = 'abc'", 1, NULL},
    {"s IS NULL", 1, "true"},
    {"COALESCE(s, 'dflt')", 1, "dflt"},
    {"NVL(n, -1)", 1, "-1"},
    {"CASE WHEN n = 5 THEN 'y' ELSE 'n' END", 1, "n"},
    {"CASE n WHEN 5 THEN 'y' ELSE 'n' END", 1, "n"},
    {"n IN (1, 2)", 1, NULL},
    {"s LIKE '%'", 1, NULL},
    {"NOT (n = 5)", 1, NULL},
    {"n BETWEEN 1 AND 9", 1, NULL},
    {"CAST(n AS VARCHAR)", 1, NULL},
    {"JSON_VALUE(j, '$.q')", 1, NULL},
    {"GREATEST(n, d)", 1, NULL},
    {"ROUND(d, 1)", 1, NULL},
    {"REGEXP_EXTRACT(s, 'a')", 1, NULL},
    {"b", 1, NULL},
    {"NOT b", 1, NULL},
    {"b OR TRUE", 1, "true"},
    {"b AND FALSE", 1, "false"},
    /* second row */
    {"UPPER(s)", 2, "XYZ"},
    {"LOWER(s)", 2, "xyz"},
    {"n = 0", 2, "true"},
    {"10 / n", 2, "~division by zero"},
    {"SAFE_DIVIDE(10, n)", 2, NULL},
    {"d < 0", 2, "true"},
    {"COALESCE(z, 'x')", 2, "zz"},
    {"CAST(num AS BIGINT)", 2, NULL},
    {"NOT b", 2, "true"},
    /* errors: unknown names, arity, types, positions */
    {"TIME_PARS(s)", 0,
     "!unknown function 'TIME_PARS' at line 1, column 1 (did you mean TIME_PARSE?)"},
    {"UPPPER(s)", 0, "!did you mean UPPER?"},
    {"FROBNICATE(s)", 0, "!unknown function 'FROBNICATE'"},
    {"contry", 0, "!unknown input field 'contry'"},
    {"\"S\"", 0, "!did you mean \"s\"? names are case-sensitive"},
    {"\"sx\"", 0, "!did you mean \"s\"?"},
    {"n +", 0, "!expected an expression but found the end of the text"},
    {"(n + 1", 0, "!expected ')'"},
    {"n + 1)", 0, "!unexpected ')'"},
    {"UPPER(s, s)", 0, "!UPPER takes 1 argument but got 2"},
    {"SUBSTRING(s)", 0, "!SUBSTRING takes 2 to 3 arguments but got 1"},
    {"n ! 1", 0, "!unexpected character '!'"},
    {"", 0, "!the expression is empty"},
    {"   ", 0, "!the expression is empty"},
    {"SUM(n)", 0, "!aggregate SUM is not allowed here"},
    {"COUNT(*)", 0, "!aggregate COUNT is not allowed here"},
    {"APPROX_COUNT_DISTINCT_DS_HLL(s)", 0,
     "!aggregate APPROX_COUNT_DISTINCT_DS_HLL is not allowed here"},
    {"DS_THETA(s)", 0, "!aggregate DS_THETA is not allowed here"},
    {"n + INTERVAL '1' DAY", 0, "!INTERVAL"},
    {"SELECT", 0, "!expected an expression but found the keyword SELECT"},
    {"\"SELECT\"", 0, "!unknown input field 'SELECT'"},
    {"s FROM t", 0, "!unexpected 'FROM'"},
    {"1 2", 0, "!unexpected '2'"},
    {"12abc", 0, "!malformed number"},
    {"?", 0, "!no value for parameter 1"},
    {"UPPER", 0, "!to call the function write UPPER(...)"},
    {"n IN ()", 0, "!expected an expression"},
    {"n NOT 5", 0, "!unexpected 'NOT'"},
    {"n IS 5", 0, "!expected NULL, TRUE, FALSE or DISTINCT FROM"},
    {"COUNT(DISTINCT s)", 0, "!aggregate COUNT is not allowed"},
    {"UPPER(DISTINCT s)", 0, "!DISTINCT is only allowed in aggregate functions"},
    {"*", 0, "!'*' is only allowed"},
    {"t.s", 0, "!unknown input field 't.s'"},
    {"SUM(n) OVER ()", 0, "!window functions"},
};

static void test_cases(void)
{
    size_t n = LS_ARRAY_LEN(cases);
    int passed = run_cases(cases, n, NULL);
    printf("expression cases: %d of %zu passed\n", passed, n);
}

/* ---- positions ----------------------------------------------------------------- */

static void test_positions(void)
{
    struct lerr err;
    struct sql_expr *e;
    struct sql_options opt = {0};
    const char *t1 = "CONCAT(s,\n  UPPPER(s))";
    lerr_init(&err);
    CHECK(sql_compile_expr(t1, strlen(t1), &test_schema, &opt, &e, &err) == LERR_INVALID);
    CHECK(strstr(err.msg, "at line 2, column 3") != NULL);
    CHECK_EQ_INT(err.pos, 12);
    CHECK_EQ_INT(lerr_http_status(err.code), 400);
    const char *t2 = "'São' || nope";
    lerr_init(&err);
    CHECK(sql_compile_expr(t2, strlen(t2), &test_schema, &opt, &e, &err) == LERR_INVALID);
    CHECK(strstr(err.msg, "at line 1, column 10") != NULL);
    CHECK_EQ_INT(err.pos, 9);
    const char *t3 = "n + /* c */ +";
    lerr_init(&err);
    CHECK(sql_compile_expr(t3, strlen(t3), &test_schema, &opt, &e, &err) == LERR_INVALID);
    CHECK_MSG(strstr(err.msg, "at line 1, column 14") != NULL, "%s", err.msg);
}

static void test_depth(void)
{
    /* long operator chains and deep nesting are refused, not a stack overflow */
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "n");
    for (int i = 0; i < 3000; i++)
        buf_puts(&b, " + n");
    struct lerr err;
    struct sql_expr *e = NULL;
    struct sql_options opt = {0};
    lerr_init(&err);
    CHECK(sql_compile_expr(b.data, b.len, &test_schema, &opt, &e, &err) == LERR_INVALID);
    CHECK(strstr(err.msg, "nested too deeply") != NULL);
    buf_reset(&b);
    for (int i = 0; i < 300; i++)
        buf_puts(&b, "UPPER(");
    buf_puts(&b, "s");
    for (int i = 0; i < 300; i++)
        buf_puts(&b, ")");
    lerr_init(&err);
    CHECK(sql_compile_expr(b.data, b.len, &test_schema, &opt, &e, &err) == LERR_INVALID);
    buf_reset(&b);
    buf_puts(&b, "n = 0");
    for (int i = 1; i < 5000; i++)
        buf_printf(&b, " OR n = %d", i);
    lerr_init(&err);
    CHECK_MSG(sql_compile_expr(b.data, b.len, &test_schema, &opt, &e, &err) == 0, "%s", err.msg);
    sql_expr_free(e);
    buf_free(&b);
}

/* ---- the compile API --------------------------------------------------------------- */

static struct sql_expr *compile_opt(const char *text, enum sql_mode mode, bool exact_distinct,
                                    struct lerr *err)
{
    struct sql_options opt = {
        .now_ms = TEST_NOW_MS, .mode = mode, .exact_count_distinct = exact_distinct};
    struct sql_expr *e = NULL;
    lerr_init(err);
    sql_compile_expr(text, strlen(text), &test_schema, &opt, &e, err);
    return e;
}

static struct sql_expr *compile(const char *text, enum sql_mode mode, struct lerr *err)
{
    struct sql_options opt = {.now_ms = TEST_NOW_MS, .mode = mode};
    struct sql_expr *e = NULL;
    lerr_init(err);
    sql_compile_expr(text, strlen(text), &test_schema, &opt, &e, err);
    return e;
}

static void test_api(void)
{
    struct lerr err;
    struct sql_expr *e = compile("CONCAT(date, 'T', time)", SQL_MODE_SCALAR, &err);
    CHECK(e != NULL);
    if (e) {
        CHECK_EQ_INT(sql_expr_type(e), SQL_STRING);
        CHECK(!sql_expr_is_aggregation(e));
        const uint32_t *refs;
        size_t nr = sql_expr_refs(e, &refs);
        CHECK_EQ_INT(nr, 2);
        if (nr == 2) {
            CHECK_EQ_INT(refs[0], F_DATE);
            CHECK_EQ_INT(refs[1], F_TIME);
        }
        sql_expr_free(e);
    }
    e = compile("n > 1 AND d < 3", SQL_MODE_SCALAR, &err);
    CHECK(e && sql_expr_type(e) == SQL_BOOLEAN);
    sql_expr_free(e);
    /* plain references (the pipeline hands their values through) */
    uint32_t rf = 999;
    e = compile("date", SQL_MODE_SCALAR, &err);
    CHECK(e && sql_expr_is_ref(e, &rf) && rf == F_DATE);
    if (e) {
        /* what the pipeline's hand-through assumes: the same value, NULL typed */
        struct sql_value row[F__N];
        for (int i = 0; i < F__N; i++)
            row[i] = sql_null(SQL_STRING);
        row[F_DATE] = sql_string("2024-01-02", 10);
        struct sql_value v;
        CHECK_EQ_INT(sql_eval_row(e, row, NULL, &v, NULL), 0);
        CHECK(!v.is_null && v.type == SQL_STRING && v.v.s.n == 10 && v.v.s.p == row[F_DATE].v.s.p);
        row[F_DATE] = sql_null(SQL_LONG);
        CHECK_EQ_INT(sql_eval_row(e, row, NULL, &v, NULL), 0);
        CHECK(v.is_null && v.type == SQL_STRING);
    }
    sql_expr_free(e);
    e = compile("(\"date\")", SQL_MODE_SCALAR, &err);
    CHECK(e && sql_expr_is_ref(e, &rf) && rf == F_DATE);
    sql_expr_free(e);
    e = compile("UPPER(date)", SQL_MODE_SCALAR, &err);
    CHECK(e && !sql_expr_is_ref(e, &rf));
    sql_expr_free(e);
    e = compile("CAST(n AS VARCHAR)", SQL_MODE_SCALAR, &err);
    CHECK(e && !sql_expr_is_ref(e, &rf));
    sql_expr_free(e);
    e = compile("'date'", SQL_MODE_SCALAR, &err);
    CHECK(e && !sql_expr_is_ref(e, &rf));
    sql_expr_free(e);
    e = compile("1 + 2 * 3", SQL_MODE_SCALAR, &err);
    CHECK(e && sql_expr_is_constant(e) && sql_expr_type(e) == SQL_LONG);
    sql_expr_free(e);
    e = compile("UPPER('abc') || 'd'", SQL_MODE_SCALAR, &err);
    CHECK(e && sql_expr_is_constant(e));
    sql_expr_free(e);
    e = compile("CURRENT_TIMESTAMP", SQL_MODE_SCALAR, &err);
    CHECK(e && sql_expr_is_constant(e) && sql_expr_type(e) == SQL_TIMESTAMP);
    if (e) {
        struct sql_value v;
        sql_eval_row(e, NULL, NULL, &v, NULL);
        CHECK_EQ_INT(v.v.l, TEST_NOW_MS);
        sql_expr_free(e);
    }
    /* aggregation mappings */
    e = compile("SUM(n)", SQL_MODE_ROLLUP, &err);
    CHECK(e && sql_expr_is_aggregation(e));
    if (e) {
        const struct sql_agg_call *a = sql_expr_agg(e);
        CHECK_EQ_INT(a->kind, SQL_AGG_SUM);
        CHECK_EQ_INT(a->result_type, SQL_LONG);
        CHECK_EQ_INT(sql_expr_type(e), SQL_LONG);
        const uint32_t *refs;
        CHECK_EQ_INT(sql_expr_refs(e, &refs), 1);
        sql_expr_free(e);
    }
    e = compile("COUNT(*)", SQL_MODE_ROLLUP, &err);
    CHECK(e && sql_expr_agg(e)->kind == SQL_AGG_COUNT_STAR && sql_expr_type(e) == SQL_LONG);
    sql_expr_free(e);
    e = compile("SUM(d * 2)", SQL_MODE_ANY, &err);
    CHECK(e && sql_expr_agg(e)->result_type == SQL_DOUBLE);
    sql_expr_free(e);
    e = compile("LATEST(s, 2)", SQL_MODE_ROLLUP, &err);
    CHECK(e && sql_expr_agg(e)->kind == SQL_AGG_LATEST && sql_expr_agg(e)->max_bytes == 2);
    sql_expr_free(e);
    e = compile("LATEST_BY(s, MILLIS_TO_TIMESTAMP(n))", SQL_MODE_ROLLUP, &err);
    CHECK(e && sql_expr_agg(e)->kind == SQL_AGG_LATEST_BY && sql_expr_agg(e)->nargs == 2);
    sql_expr_free(e);
    e = compile("EARLIEST_BY(s, s)", SQL_MODE_ROLLUP, &err);
    CHECK(!e && strstr(err.msg, "must be a TIMESTAMP"));
    e = compile("n + 1", SQL_MODE_ROLLUP, &err);
    CHECK(!e && strstr(err.msg, "must be an aggregate call"));
    e = compile("SUM(n) + 1", SQL_MODE_ROLLUP, &err);
    CHECK(!e && strstr(err.msg, "single aggregate call"));
    e = compile("SUM(SUM(n))", SQL_MODE_ROLLUP, &err);
    CHECK(!e && strstr(err.msg, "cannot be nested"));
    e = compile("SUM(s)", SQL_MODE_ROLLUP, &err);
    CHECK(!e && strstr(err.msg, "needs a number"));
    e = compile("MAX(s)", SQL_MODE_ROLLUP, &err);
    CHECK(e && sql_expr_type(e) == SQL_STRING);
    sql_expr_free(e);
    e = compile("n + 1", SQL_MODE_ANY, &err);
    CHECK(e && !sql_expr_is_aggregation(e));
    sql_expr_free(e);
    e = compile("DS_HLL(s)", SQL_MODE_ROLLUP, &err);
    CHECK_MSG(e && sql_expr_agg(e)->kind == SQL_AGG_HLL && sql_expr_type(e) == SQL_HLL_SKETCH,
              "%s", err.msg);
    sql_expr_free(e);

    /* parameters and time zone option */
    struct sql_value params[2] = {sql_long(40), sql_string("x", 1)};
    struct sql_options opt = {.params = params, .nparams = 2};
    lerr_init(&err);
    CHECK(sql_compile_expr("(? + 2) || ?", 12, &test_schema, &opt, &e, &err) == 0);
    if (e) {
        struct sql_value v;
        struct arena a;
        arena_init(&a, 0, 0);
        sql_eval_row(e, NULL, &a, &v, NULL);
        CHECK(v.type == SQL_STRING && v.v.s.n == 3 && memcmp(v.v.s.p, "42x", 3) == 0);
        arena_destroy(&a);
        sql_expr_free(e);
    }
    opt.time_zone = "Not/AZone";
    lerr_init(&err);
    CHECK(sql_compile_expr("1", 1, &test_schema, &opt, &e, &err) == LERR_INVALID);

    /* filter verdicts: unknown is false */
    struct sql_value rows[3][F__N];
    test_rows(rows);
    struct arena mem;
    arena_init(&mem, 0, 0);
    e = compile("z <> 'a'", SQL_MODE_SCALAR, &err);
    CHECK(e && !sql_eval_filter(e, rows[0], &mem, NULL, NULL));
    sql_expr_free(e);
    e = compile("s <> 'a'", SQL_MODE_SCALAR, &err);
    CHECK(e && sql_eval_filter(e, rows[0], &mem, NULL, NULL));
    CHECK(e && !sql_eval_filter(e, rows[1], &mem, NULL, NULL));
    sql_expr_free(e);
    int rc = 0;
    e = compile("10 / n > 1", SQL_MODE_SCALAR, &err);
    CHECK(e && !sql_eval_filter(e, rows[2], &mem, &rc, NULL) && rc == LERR_INVALID);
    sql_expr_free(e);
    /* a row value of another type than declared is cast */
    struct sql_value odd[F__N];
    memcpy(odd, rows[0], sizeof odd);
    odd[F_N] = sql_string("17", 2);
    e = compile("n + 1", SQL_MODE_SCALAR, &err);
    struct sql_value v;
    CHECK(e && sql_eval_row(e, odd, &mem, &v, NULL) == 0 && v.type == SQL_LONG && v.v.l == 18);
    sql_expr_free(e);
    arena_destroy(&mem);
}

/* ---- batches -------------------------------------------------------------------------- */

static void test_batch(void)
{
    enum { N = 1000 };
    static struct sql_value cols[F__N][N];
    struct sql_value rows[3][F__N];
    test_rows(rows);
    for (int r = 0; r < N; r++) {
        for (int f = 0; f < F__N; f++)
            cols[f][r] = rows[r % 3][f];
        cols[F_N][r] = r % 7 == 0 ? sql_null(SQL_LONG) : sql_long(r);
    }
    const struct sql_value *colp[F__N];
    for (int f = 0; f < F__N; f++)
        colp[f] = cols[f];
    struct sql_batch b = {colp, N};
    struct lerr err;
    struct sql_expr *e = compile("n * 2 + 1", SQL_MODE_SCALAR, &err);
    static struct sql_value out[N];
    struct arena mem;
    arena_init(&mem, 0, 0);
    CHECK(e && sql_eval_batch(e, &b, NULL, N, &mem, out, NULL) == 0);
    int bad = 0;
    for (int r = 0; r < N; r++) {
        if (r % 7 == 0)
            bad += !out[r].is_null;
        else
            bad += out[r].is_null || out[r].v.l != 2 * r + 1;
    }
    CHECK_EQ_INT(bad, 0);
    sql_expr_free(e);
    e = compile("n > 500 AND s = 'abc'", SQL_MODE_SCALAR, &err);
    static uint32_t sel[N];
    uint32_t m = e ? sql_filter_batch(e, &b, NULL, N, &mem, sel, NULL) : 0;
    int want = 0;
    for (int r = 501; r < N; r++)
        want += r % 7 != 0 && r % 3 == 0;
    CHECK_EQ_INT(m, want);
    /* evaluate over the selection only */
    struct sql_expr *e2 = compile("CONCAT(s, '-', n)", SQL_MODE_SCALAR, &err);
    CHECK(e2 && sql_eval_batch(e2, &b, sel, m, &mem, out, NULL) == 0);
    if (m > 0) {
        char want_s[32];
        int l = snprintf(want_s, sizeof want_s, "abc-%u", sel[0]);
        CHECK(out[0].v.s.n == (uint32_t)l && memcmp(out[0].v.s.p, want_s, (size_t)l) == 0);
    }
    sql_expr_free(e2);
    sql_expr_free(e);
    /* a run-time error fails only its row */
    e = compile("100 / (n - 10)", SQL_MODE_SCALAR, &err);
    CHECK(e && sql_eval_batch(e, &b, NULL, 20, &mem, out, NULL) == LERR_INVALID);
    CHECK(out[10].is_null && !out[11].is_null && out[11].v.l == 100);
    sql_expr_free(e);
    arena_destroy(&mem);
}

/* ---- aggregators --------------------------------------------------------------------- */

static void agg_roundtrip(const struct sql_agg_call *c, void *st, struct arena *mem,
                          struct sql_value *out)
{
    struct buf b;
    buf_init(&b, 0);
    CHECK(sql_agg_serialize(c, st, &b));
    void *st2 = calloc(1, sql_agg_state_size(c));
    struct lerr err;
    lerr_init(&err);
    CHECK_EQ_INT(sql_agg_deserialize(c, b.data, b.len, st2, mem, &err), 0);
    sql_agg_finalize(c, st2, out);
    if (b.len > 3) {
        lerr_init(&err);
        CHECK_EQ_INT(sql_agg_deserialize(c, b.data, b.len - 1, st2, mem, &err), LERR_CORRUPT);
    }
    free(st2);
    buf_free(&b);
}

static void test_aggs(void)
{
    struct lerr err;
    struct arena mem;
    arena_init(&mem, 0, 0);
    struct sql_value rows[3][F__N];
    test_rows(rows);
    struct {
        const char *expr;
        const char *want; /* over rows 0, 1, 2 then merged with itself */
        const char *merged;
    } t[] = {
        {"COUNT(*)", "3", "6"},
        {"COUNT(s)", "2", "4"},
        {"COUNT(z)", "1", "2"},
        {"SUM(n)", "5", "10"},
        {"SUM(d)", "2.0", "4.0"},
        {"SUM(nl)", NULL, NULL},
        {"MIN(n)", "0", "0"},
        {"MAX(n)", "5", "5"},
        {"MIN(s)", "XyZ", "XyZ"},
        {"MAX(s)", "abc", "abc"},
        {"MIN(d)", "-0.5", "-0.5"},
        {"AVG(d)", "1.0", "1.0"},
        {"AVG(n)", "2.5", "2.5"},
        {"COUNT(DISTINCT s)", "2", "2"},
        {"APPROX_COUNT_DISTINCT(n)", "2", "2"},
        {"SUM(n) FILTER (WHERE s = 'abc')", "5", "10"},
        {"ANY_VALUE(s)", "abc", "abc"},
        {"LATEST_BY(s, MILLIS_TO_TIMESTAMP(n))", "abc", "abc"},
        {"EARLIEST_BY(s, MILLIS_TO_TIMESTAMP(n))", "XyZ", "XyZ"},
        {"LATEST_BY(s, MILLIS_TO_TIMESTAMP(n), 2)", "ab", "ab"},
        {"EARLIEST(s)", "abc", "abc"},
        {"LATEST(s)", "XyZ", "XyZ"},
        {"LATEST(n)", "0", "0"},
        /* query-only: Druid's variance collector merges exactly; one value's is 0 */
        {"VAR_POP(n)", "6.25", "6.25"},
        {"VAR_SAMP(d)", "4.5", "3.0"},
        {"VARIANCE(n)", "12.5", "8.333333333333334"},
        {"STDDEV_POP(n)", "2.5", "2.5"},
        {"STDDEV(d)", "2.1213203435596424", "1.7320508075688772"},
        {"VAR_SAMP(n) FILTER (WHERE n > 0)", "0.0", "0.0"},
        {"STDDEV_SAMP(nl)", NULL, NULL},
        {"BIT_AND(n)", "0", "0"},
        {"BIT_OR(n)", "5", "5"},
        {"BIT_XOR(n)", "5", "0"},
        {"BIT_OR(nl)", NULL, NULL},
        {"ARRAY_AGG(s)", "[\"abc\",null,\"XyZ\"]", "[\"abc\",null,\"XyZ\",\"abc\",null,\"XyZ\"]"},
        {"ARRAY_AGG(DISTINCT s)", "[null,\"XyZ\",\"abc\"]", "[null,\"XyZ\",\"abc\"]"},
        {"ARRAY_AGG(n) FILTER (WHERE n > 10)", NULL, NULL},
        {"ARRAY_CONCAT_AGG(arr)", "[1,2,3,1,2,3]", "[1,2,3,1,2,3,1,2,3,1,2,3]"},
        {"ARRAY_CONCAT_AGG(DISTINCT arr)", "[1,2,3]", "[1,2,3]"},
        {"STRING_AGG(s, '|')", "abc|XyZ", "abc|XyZ|abc|XyZ"},
        {"STRING_AGG(s, '|') FILTER (WHERE n > 0)", "abc", "abc|abc"},
        {"LISTAGG(DISTINCT s)", "XyZ,abc", "XyZ,abc"},
        {"LISTAGG(nl)", NULL, NULL},
    };
    for (size_t i = 0; i < LS_ARRAY_LEN(t); i++) {
        struct sql_expr *e = compile(t[i].expr, SQL_MODE_ROLLUP, &err);
        CHECK_MSG(e != NULL, "%s: %s", t[i].expr, err.msg);
        if (!e)
            continue;
        const struct sql_agg_call *c = sql_expr_agg(e);
        void *st = calloc(1, sql_agg_state_size(c));
        void *st2 = calloc(1, sql_agg_state_size(c));
        sql_agg_init(c, st);
        sql_agg_init(c, st2);
        for (int r = 0; r < 3; r++) {
            /* row time: 1000 * r (EARLIEST/LATEST) */
            CHECK_EQ_INT(sql_agg_add_row(c, st, rows[r], 1000 * r, &mem, &err), 0);
            CHECK_EQ_INT(sql_agg_add_row(c, st2, rows[r], 1000 * r, &mem, &err), 0);
        }
        struct sql_value v;
        struct buf b;
        buf_init(&b, 0);
        sql_agg_finalize(c, st, &v);
        sql_value_to_text(&v, &b, true);
        CHECK_MSG(t[i].want ? strcmp(buf_cstr(&b), t[i].want) == 0 : v.is_null,
                  "%s: got %s want %s", t[i].expr, buf_cstr(&b), t[i].want ? t[i].want : "NULL");
        buf_reset(&b);
        agg_roundtrip(c, st, &mem, &v);
        sql_value_to_text(&v, &b, true);
        CHECK_MSG(t[i].want ? strcmp(buf_cstr(&b), t[i].want) == 0 : v.is_null,
                  "%s after serialize: got %s", t[i].expr, buf_cstr(&b));
        buf_reset(&b);
        CHECK(sql_agg_merge(c, st, st2, &mem));
        sql_agg_finalize(c, st, &v);
        sql_value_to_text(&v, &b, true);
        CHECK_MSG(t[i].merged ? strcmp(buf_cstr(&b), t[i].merged) == 0 : v.is_null,
                  "%s merged: got %s want %s", t[i].expr, buf_cstr(&b),
                  t[i].merged ? t[i].merged : "NULL");
        buf_free(&b);
        free(st);
        free(st2);
        sql_expr_free(e);
    }
    /* past maxBytes: the add (or merge) fails with LERR_INVALID and leaves the state as it was */
    {
        struct sql_expr *e = compile("ARRAY_AGG(s, 16)", SQL_MODE_ROLLUP, &err);
        CHECK_MSG(e != NULL, "%s", err.msg);
        const struct sql_agg_call *c = e ? sql_expr_agg(e) : NULL;
        if (c) {
            void *st = calloc(1, sql_agg_state_size(c)), *st2 = calloc(1, sql_agg_state_size(c));
            sql_agg_init(c, st);
            sql_agg_init(c, st2);
            struct sql_value abc = sql_string("abc", 3), nul = sql_null(SQL_STRING), v;
            lerr_init(&err);
            /* 5 for the array, 1 + 4 + 3 for "abc" = 13, then 1 for NULL = 14 */
            CHECK_EQ_INT(sql_agg_add_err(c, st, &abc, 0, &mem, &err), 0);
            CHECK_EQ_INT(sql_agg_add_err(c, st, &nul, 0, &mem, &err), 0);
            CHECK_EQ_INT(sql_agg_add_err(c, st, &abc, 0, &mem, &err), LERR_INVALID);
            CHECK_MSG(strstr(err.msg, "ARRAY_AGG grew past its maxBytes limit") &&
                          strstr(err.msg, "22 bytes, more than 16"),
                      "%s", err.msg);
            CHECK(!sql_agg_add(c, st, &abc, 0, &mem));
            sql_agg_finalize(c, st, &v);
            CHECK(v.type == SQL_ARRAY && v.v.a.n == 2);
            CHECK_EQ_INT(sql_agg_add_err(c, st2, &abc, 0, &mem, NULL), 0);
            lerr_init(&err);
            CHECK_EQ_INT(sql_agg_merge_err(c, st, st2, &mem, &err), LERR_INVALID);
            CHECK(!sql_agg_merge(c, st, st2, &mem));
            free(st);
            free(st2);
        }
        sql_expr_free(e);
    }
    /* empty states */
    struct sql_expr *e = compile("SUM(n)", SQL_MODE_ROLLUP, &err);
    if (e) {
        const struct sql_agg_call *c = sql_expr_agg(e);
        void *st = calloc(1, sql_agg_state_size(c));
        sql_agg_init(c, st);
        struct sql_value v;
        sql_agg_finalize(c, st, &v);
        CHECK(v.is_null);
        free(st);
        sql_expr_free(e);
    }
    /* measures for storage */
    struct sql_agg_call m;
    CHECK(sql_agg_for_measure("longSum", &m) && m.kind == SQL_AGG_SUM &&
          m.result_type == SQL_LONG);
    CHECK(sql_agg_for_measure("stringLatest", &m) && m.kind == SQL_AGG_LATEST);
    CHECK(sql_agg_for_measure("HLLSketch", &m) && m.kind == SQL_AGG_HLL &&
          m.result_type == SQL_HLL_SKETCH && m.sketch_size == 12);
    CHECK(sql_agg_for_measure("quantilesDoublesSketch", &m) && m.kind == SQL_AGG_QUANTILES &&
          m.sketch_size == 128);
    CHECK(!sql_agg_for_measure("hyperUnique", &m));
    /* sketch columns' parameters: set, listed, checked */
    {
        struct sql_sketch_param p[2];
        char text[80];
        sql_agg_for_measure("HLLSketch", &m);
        lerr_init(&err);
        CHECK_EQ_INT(sql_agg_sketch_param_set(&m, "lgK", 14, NULL, &err), 0);
        CHECK_EQ_INT(sql_agg_sketch_param_set(&m, "tgtHllType", 0, "HLL_8", &err), 0);
        CHECK(m.sketch_size == 14 && m.sketch_type == 2);
        CHECK_EQ_INT((int)sql_agg_sketch_params(&m, p), 2);
        CHECK(strcmp(p[0].key, "lgK") == 0 && p[0].n == 14 && strcmp(p[1].s, "HLL_8") == 0);
        sql_agg_sketch_params_text(&m, text, sizeof text);
        CHECK_EQ_STR(text, "lgK 14, tgtHllType HLL_8");
        CHECK_EQ_INT(sql_agg_sketch_param_set(&m, "lgK", 22, NULL, &err), LERR_INVALID);
        CHECK(strstr(err.msg, "from 4 to 21") != NULL);
        CHECK_EQ_INT(sql_agg_sketch_param_set(&m, "tgtHllType", 0, "HLL_5", &err), LERR_INVALID);
        lerr_init(&err);
        CHECK_EQ_INT(sql_agg_sketch_param_set(&m, "size", 1024, NULL, &err), LERR_INVALID);
        CHECK(strstr(err.msg, "thetaSketch") != NULL);
        CHECK_EQ_INT(sql_agg_sketch_param_set(&m, "lgk", 14, NULL, &err), LERR_INVALID);
        CHECK(m.sketch_size == 14 && m.sketch_type == 2); /* failures change nothing */
        sql_agg_for_measure("thetaSketch", &m);
        lerr_init(&err);
        CHECK_EQ_INT(sql_agg_sketch_param_set(&m, "size", 1000, NULL, &err), LERR_INVALID);
        CHECK(strstr(err.msg, "power of two") != NULL);
        CHECK_EQ_INT(sql_agg_sketch_param_set(&m, "size", 1024, NULL, &err), 0);
        CHECK(m.sketch_size == 1024 && sql_agg_sketch_params(&m, p) == 1);
        sql_agg_for_measure("quantilesDoublesSketch", &m);
        CHECK_EQ_INT(sql_agg_sketch_param_set(&m, "k", 64, NULL, &err), 0);
        CHECK_EQ_INT(sql_agg_sketch_param_set(&m, "k", 65536, NULL, &err), LERR_INVALID);
        sql_agg_for_measure("longSum", &m);
        CHECK_EQ_INT((int)sql_agg_sketch_params(&m, p), 0);
        CHECK_EQ_INT(sql_agg_sketch_param_set(&m, "k", 64, NULL, &err), LERR_INVALID);
        /* a mapping that names its parameters says so */
        lerr_init(&err);
        struct sql_expr *g = compile("DS_HLL(s, 14)", SQL_MODE_ROLLUP, &err);
        CHECK(g && sql_expr_agg(g)->sketch_given && sql_expr_agg(g)->sketch_size == 14);
        struct sql_expr *d = compile("APPROX_COUNT_DISTINCT_DS_HLL(s)", SQL_MODE_ROLLUP, &err);
        CHECK(d && !sql_expr_agg(d)->sketch_given);
        sql_expr_free(g);
        sql_expr_free(d);
    }
    {
        sql_agg_for_measure("doubleMax", &m);
        void *st = calloc(1, sql_agg_state_size(&m));
        sql_agg_init(&m, st);
        struct sql_value x = sql_double(3.5), y = sql_double(-1);
        sql_agg_add(&m, st, &x, 0, &mem);
        sql_agg_add(&m, st, &y, 0, &mem);
        struct sql_value v;
        sql_agg_finalize(&m, st, &v);
        CHECK_EQ_DBL(v.v.d, 3.5, 0);
        free(st);
    }
    /* a LATEST_BY mapping's state reads back as a stringLatest measure */
    e = compile("LATEST_BY(s, MILLIS_TO_TIMESTAMP(n))", SQL_MODE_ROLLUP, &err);
    if (e) {
        const struct sql_agg_call *c = sql_expr_agg(e);
        void *st = calloc(1, sql_agg_state_size(c));
        sql_agg_init(c, st);
        sql_agg_add_row(c, st, rows[0], 0, &mem, &err);
        struct buf b;
        buf_init(&b, 0);
        sql_agg_serialize(c, st, &b);
        sql_agg_for_measure("stringLatest", &m);
        void *st2 = calloc(1, sql_agg_state_size(&m));
        lerr_init(&err);
        CHECK_EQ_INT(sql_agg_deserialize(&m, b.data, b.len, st2, &mem, &err), 0);
        struct sql_value v;
        sql_agg_finalize(&m, st2, &v);
        CHECK(!v.is_null && v.v.s.n == 3 && memcmp(v.v.s.p, "abc", 3) == 0);
        sql_agg_for_measure("longSum", &m);
        lerr_init(&err);
        CHECK_EQ_INT(sql_agg_deserialize(&m, b.data, b.len, st2, &mem, &err), LERR_CORRUPT);
        buf_free(&b);
        free(st);
        free(st2);
        sql_expr_free(e);
    }
    /* COUNT(DISTINCT) over many values, merged and serialized (exact when
     * asked; the default, an HLL sketch, is tested with the sketches) */
    e = compile_opt("COUNT(DISTINCT n)", SQL_MODE_ROLLUP, true, &err);
    if (e) {
        const struct sql_agg_call *c = sql_expr_agg(e);
        void *a = calloc(1, sql_agg_state_size(c)), *b2 = calloc(1, sql_agg_state_size(c));
        sql_agg_init(c, a);
        sql_agg_init(c, b2);
        for (int i = 0; i < 5000; i++) {
            struct sql_value x = sql_long(i % 3000);
            sql_agg_add(c, i % 2 ? a : b2, &x, 0, &mem);
        }
        sql_agg_merge(c, a, b2, &mem);
        struct sql_value v;
        sql_agg_finalize(c, a, &v);
        CHECK_EQ_INT(v.v.l, 3000);
        agg_roundtrip(c, a, &mem, &v);
        CHECK_EQ_INT(v.v.l, 3000);
        free(a);
        free(b2);
        sql_expr_free(e);
    }
    arena_destroy(&mem);
}

/* ---- SELECT ------------------------------------------------------------------------------ */

static const struct sql_field tcols[] = {
    {"__time", 6, SQL_TIMESTAMP, NULL, 0}, {"channel", 7, SQL_STRING, NULL, 0},
    {"page", 4, SQL_STRING, NULL, 0},      {"added", 5, SQL_LONG, NULL, 0},
    {"delta", 5, SQL_DOUBLE, NULL, 0},
};
static const struct sql_schema tschema = {tcols, LS_ARRAY_LEN(tcols)};

static struct sql_select *bind_q(const char *text, struct lerr *err)
{
    struct sql_stmt *st = NULL;
    struct sql_select *q = NULL;
    lerr_init(err);
    struct sql_value params[1] = {sql_string("#en", 3)};
    struct sql_options opt = {.now_ms = TEST_NOW_MS, .params = params, .nparams = 1};
    if (sql_parse_select(text, strlen(text), &st, err) == 0) {
        const char *schema, *table;
        sql_stmt_table(st, &schema, &table);
        sql_bind_select(st, &tschema, &opt, &q, err);
        sql_stmt_free(st);
    }
    return q;
}

static void test_select(void)
{
    struct lerr err;
    struct sql_select *q = bind_q("SELECT channel, COUNT(*) AS cnt, SUM(added) * 2, page || 'x' "
                                  "FROM \"wiki\" WHERE __time >= TIMESTAMP '2015-09-12 00:00:00' "
                                  "AND __time < '2015-09-13' GROUP BY channel, 4 "
                                  "HAVING COUNT(*) > 1 ORDER BY cnt DESC, 1 LIMIT 10 OFFSET 5",
                                  &err);
    CHECK_MSG(q != NULL, "%s", err.msg);
    if (q) {
        CHECK_EQ_STR(q->table, "wiki");
        CHECK(q->aggregate && !q->explain);
        CHECK_EQ_INT(q->nitems, 4);
        CHECK_EQ_STR(q->items[0].name, "channel");
        CHECK_EQ_STR(q->items[1].name, "cnt");
        CHECK_EQ_STR(q->items[2].name, "EXPR$2");
        CHECK_EQ_STR(q->items[3].name, "EXPR$3");
        CHECK_EQ_INT(q->nkeys, 2);
        CHECK_EQ_INT(q->naggs, 2); /* COUNT(*) shared with HAVING */
        CHECK_EQ_INT(q->items[2].type, SQL_LONG);
        CHECK_EQ_INT(q->norder, 2);
        CHECK_EQ_INT(q->order[0].item, 1);
        CHECK(q->order[0].desc);
        CHECK_EQ_INT(q->order[1].item, 0);
        CHECK_EQ_INT(q->limit, 10);
        CHECK_EQ_INT(q->offset, 5);
        CHECK_EQ_INT(q->time_min, 1442016000000LL);
        CHECK_EQ_INT(q->time_max, 1442102400000LL);
        CHECK(q->having != NULL);
        /* evaluate an item over a group row [channel, page||'x', COUNT, SUM] */
        struct sql_value grow[4] = {sql_string("#en", 3), sql_string("px", 2), sql_long(3),
                                    sql_long(21)};
        struct sql_value v;
        struct arena mem;
        arena_init(&mem, 0, 0);
        CHECK(sql_eval_row(q->items[2].expr, grow, &mem, &v, NULL) == 0 && v.v.l == 42);
        CHECK(sql_eval_row(q->items[3].expr, grow, &mem, &v, NULL) == 0 && v.v.s.n == 2);
        CHECK(sql_eval_filter(q->having, grow, &mem, NULL, NULL));
        /* stage one: keys and aggregate args over a table row */
        struct sql_value trow[5] = {sql_timestamp(1442016000000LL), sql_string("#fr", 3),
                                    sql_string("P", 1), sql_long(7), sql_double(1)};
        CHECK(sql_eval_row(q->keys[1], trow, &mem, &v, NULL) == 0 && v.v.s.n == 2);
        CHECK(sql_eval_filter(q->where, trow, &mem, NULL, NULL));
        CHECK_EQ_INT(q->aggs[0].kind, SQL_AGG_COUNT_STAR);
        CHECK_EQ_INT(q->aggs[1].kind, SQL_AGG_SUM);
        arena_destroy(&mem);
        sql_select_free(q);
    }
    q = bind_q("SELECT * FROM wiki WHERE channel = ? LIMIT 3", &err);
    CHECK_MSG(q != NULL, "%s", err.msg);
    if (q) {
        CHECK_EQ_INT(q->nitems, 5);
        CHECK_EQ_STR(q->items[1].name, "channel");
        CHECK(!q->aggregate);
        struct sql_value trow[5] = {sql_timestamp(0), sql_string("#en", 3), sql_string("P", 1),
                                    sql_long(7), sql_double(1)};
        CHECK(sql_eval_filter(q->where, trow, NULL, NULL, NULL));
        sql_select_free(q);
    }
    q = bind_q("EXPLAIN PLAN FOR SELECT DISTINCT channel FROM wiki", &err);
    CHECK(q && q->explain && q->aggregate && q->nkeys == 1 && q->naggs == 0);
    sql_select_free(q);
    q = bind_q("SELECT COUNT(*) FROM INFORMATION_SCHEMA.TABLES", &err);
    CHECK(q && strcmp(q->schema_name, "INFORMATION_SCHEMA") == 0 &&
          strcmp(q->table, "TABLES") == 0);
    CHECK(q && strcmp(q->items[0].name, "EXPR$0") == 0 && q->nkeys == 0 && q->naggs == 1);
    sql_select_free(q);
    q = bind_q("SELECT w.page AS p FROM wiki w ORDER BY p", &err);
    CHECK_MSG(q && q->order[0].item == 0, "%s", err.msg);
    sql_select_free(q);
    q = bind_q("SELECT FLOOR(__time TO HOUR) AS h, SUM(delta) FROM wiki GROUP BY h", &err);
    CHECK_MSG(q && q->nkeys == 1 && q->items[1].type == SQL_DOUBLE, "%s", err.msg);
    sql_select_free(q);
    q = bind_q("SELECT 1 + 1", &err);
    CHECK(q && q->table[0] == '\0' && q->nitems == 1);
    sql_select_free(q);
    q = bind_q("SELECT page, COUNT(*) FROM wiki", &err);
    CHECK(!q && strstr(err.msg, "must appear in GROUP BY"));
    q = bind_q("SELECT chanel FROM wiki", &err);
    CHECK(!q && strstr(err.msg, "unknown column 'chanel'") &&
          strstr(err.msg, "did you mean \"channel\""));
    q = bind_q("SELECT page FROM wiki WHERE COUNT(*) > 1", &err);
    CHECK(!q && strstr(err.msg, "not allowed in WHERE"));
    q = bind_q("SELECT page FROM wiki LIMIT -1", &err);
    CHECK(!q && strstr(err.msg, "LIMIT"));
    q = bind_q("SELECT page FROM a JOIN b", &err);
    CHECK(!q && strstr(err.msg, "expected ON or USING after the joined table") &&
          strstr(err.msg, "line 1, column 26"));
    q = bind_q("SELECT page FROM a NATURAL JOIN b", &err);
    CHECK(!q && strstr(err.msg, "NATURAL JOIN is not supported"));
    q = bind_q("SELECT 1 FROM t WHERE (SELECT 1) IN (SELECT 2 UNION SELECT 3 UNION ALL SELECT 4)",
               &err);
    CHECK(!q && strstr(err.msg, "UNION and UNION ALL mixed in one query"));
    q = bind_q("WITH a AS (SELECT 1), a AS (SELECT 2) SELECT * FROM a", &err);
    CHECK(!q && strstr(err.msg, "WITH query 'a' is defined twice"));
    /* a subquery left unresolved (the engine resolves them) is named */
    q = bind_q("SELECT page FROM wiki WHERE added > (SELECT 1)", &err);
    CHECK(!q && strstr(err.msg, "a subquery is not allowed here"));
    q = bind_q("SELECT page FROM wiki WHERE", &err);
    CHECK(!q && strstr(err.msg, "expected an expression"));
    q = bind_q("SELECT page FROM wiki GROUP BY page ORDER BY SUM(added) DESC", &err);
    CHECK_MSG(q && q->naggs == 1 && q->order[0].item == -1, "%s", err.msg);
    sql_select_free(q);
    q = bind_q("SELECT APPROX_COUNT_DISTINCT_DS_THETA(page) FROM wiki", &err);
    CHECK_MSG(q && q->aggs[0].kind == SQL_AGG_THETA && q->aggs[0].sketch_size == 16384 &&
                  q->aggs[0].result_type == SQL_LONG,
              "%s", err.msg);
    sql_select_free(q);
    q = bind_q(
        "SELECT COUNT(DISTINCT page), AVG(added) FROM wiki WHERE __time BETWEEN TIMESTAMP '2015-09-12 00:00:00' AND TIMESTAMP '2015-09-13 00:00:00'",
        &err);
    /* approximate by default, as Druid: an HLL sketch of lgK 12 */
    CHECK_MSG(q && q->aggs[0].kind == SQL_AGG_HLL && q->aggs[0].sketch_size == 12 &&
                  q->time_max == 1442102400001LL,
              "%s", err.msg);
    sql_select_free(q);
}

/* ---- limits: size, nesting, memory ------------------------------------------------------ */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "<head><sep>-joined terms fmt(i) for i in [0, n)<tail>" into b (reset). */
static void gen(struct buf *b, const char *head, const char *fmt, const char *sep, int n,
                const char *tail)
{
    buf_reset(b);
    buf_puts(b, head);
    for (int i = 0; i < n; i++) {
        if (i)
            buf_puts(b, sep);
        buf_printf(b, fmt, i, i);
    }
    buf_puts(b, tail);
}

/* head, then s n times, then tail, into b (reset). */
static void times(struct buf *b, const char *head, const char *s, int n, const char *tail)
{
    buf_reset(b);
    buf_puts(b, head);
    for (int i = 0; i < n; i++)
        buf_puts(b, s);
    buf_puts(b, tail);
}

static int parse_err(const char *text, size_t len, struct lerr *err)
{
    struct sql_stmt *st = NULL;
    lerr_init(err);
    int rc = sql_parse_select(text, len, &st, err);
    sql_stmt_free(st);
    return rc;
}

static void test_limits(void)
{
    struct lerr err;
    struct buf b;
    buf_init(&b, 0);

    /* 100,000 nested parentheses: a 400 where the 201st level starts, not a
     * stack overflow */
    buf_puts(&b, "SELECT ");
    for (int i = 0; i < 100000; i++)
        buf_putc(&b, '(');
    buf_putc(&b, '1');
    for (int i = 0; i < 100000; i++)
        buf_putc(&b, ')');
    CHECK(parse_err(b.data, b.len, &err) == LERR_INVALID);
    CHECK_MSG(strstr(err.msg, "nested too deeply: more than 200 levels") &&
                  strstr(err.msg, "at line 1, column 208"),
              "%s", err.msg);
    CHECK_EQ_INT(lerr_http_status(err.code), 400);
    times(&b, "SELECT ", "(", 199, "1");
    for (int i = 0; i < 199; i++)
        buf_putc(&b, ')');
    CHECK_MSG(parse_err(b.data, b.len, &err) == 0, "199 levels: %s", err.msg);
    /* nested calls, NOT and minus count alike */
    times(&b, "", "UPPER(", 100000, "s");
    struct sql_expr *e = NULL;
    struct sql_options opt = {.now_ms = TEST_NOW_MS};
    lerr_init(&err);
    CHECK(sql_compile_expr(b.data, b.len, &test_schema, &opt, &e, &err) == LERR_INVALID);
    CHECK_MSG(strstr(err.msg, "nested too deeply") != NULL, "%s", err.msg);
    times(&b, "", "NOT ", 100000, "TRUE");
    lerr_init(&err);
    CHECK(sql_compile_expr(b.data, b.len, &test_schema, &opt, &e, &err) == LERR_INVALID);
    times(&b, "", "- ", 100000, "1");
    lerr_init(&err);
    CHECK(sql_compile_expr(b.data, b.len, &test_schema, &opt, &e, &err) == LERR_INVALID);

    /* a 50,000-term OR: parse, bind and evaluation linear in its size (the
     * parser used to copy the argument list for each term: gigabytes) */
    gen(&b, "", "n = %d", " OR ", 50000, "");
    struct mem_budget mb;
    mem_budget_init(&mb, 0, NULL);
    opt.budget = &mb;
    double t0 = now_s();
    lerr_init(&err);
    int rc = sql_compile_expr(b.data, b.len, &test_schema, &opt, &e, &err);
    double secs = now_s() - t0;
    CHECK_MSG(rc == 0, "%s", err.msg);
    CHECK_MSG(mb.peak < (64u << 20), "a 50,000-term OR took %llu bytes to compile",
              (unsigned long long)mb.peak);
    CHECK_MSG(secs < 2.0, "a 50,000-term OR took %.2f s to compile", secs);
    struct sql_value rows[3][F__N];
    test_rows(rows);
    struct sql_value v;
    rows[0][F_N] = sql_long(49999);
    CHECK(e && sql_eval_row(e, rows[0], NULL, &v, NULL) == 0 && v.v.l == 1);
    rows[0][F_N] = sql_long(50000);
    CHECK(e && sql_eval_row(e, rows[0], NULL, &v, NULL) == 0 && v.v.l == 0);
    sql_expr_free(e);
    CHECK_EQ_INT(mb.used, 0); /* the compiled form was charged, and released */
    /* the same under a budget too small for it: refused, not allocated */
    mem_budget_init(&mb, 1u << 20, NULL);
    lerr_init(&err);
    CHECK(sql_compile_expr(b.data, b.len, &test_schema, &opt, &e, &err) == LERR_NOMEM);
    CHECK_EQ_INT(mb.refused, MEM_REFUSED_BUDGET);
    CHECK_EQ_INT(mb.used, 0);
    opt.budget = NULL;
    /* more terms than one call holds: the chain nests, and is still right */
    gen(&b, "", "n = %d", " OR ", 70000, "");
    lerr_init(&err);
    CHECK_MSG(sql_compile_expr(b.data, b.len, &test_schema, &opt, &e, &err) == 0, "%s", err.msg);
    rows[0][F_N] = sql_long(69999);
    CHECK(e && sql_eval_row(e, rows[0], NULL, &v, NULL) == 0 && v.v.l == 1);
    sql_expr_free(e);
    gen(&b, "", "n <> %d", " AND ", 70000, "");
    lerr_init(&err);
    CHECK_MSG(sql_compile_expr(b.data, b.len, &test_schema, &opt, &e, &err) == 0, "%s", err.msg);
    rows[0][F_N] = sql_long(70000);
    CHECK(e && sql_eval_row(e, rows[0], NULL, &v, NULL) == 0 && v.v.l == 1);
    sql_expr_free(e);
    rows[0][F_N] = sql_long(5);

    /* IN lists and arguments: SQL_MAX_ARGS, named when passed */
    gen(&b, "n IN (", "%d", ", ", 65534, ")");
    lerr_init(&err);
    CHECK_MSG(sql_compile_expr(b.data, b.len, &test_schema, &opt, &e, &err) == 0, "%s", err.msg);
    sql_expr_free(e);
    gen(&b, "n IN (", "%d", ", ", 65535, ")");
    lerr_init(&err);
    CHECK(sql_compile_expr(b.data, b.len, &test_schema, &opt, &e, &err) == LERR_INVALID);
    CHECK_MSG(strstr(err.msg, "too many values in one IN list: more than 65534 at line 1"), "%s",
              err.msg);
    gen(&b, "CONCAT(", "s", ", ", 65536, ")");
    lerr_init(&err);
    CHECK(sql_compile_expr(b.data, b.len, &test_schema, &opt, &e, &err) == LERR_INVALID);
    CHECK_MSG(strstr(err.msg, "too many arguments in one call: more than 65535"), "%s", err.msg);

    /* SELECT list, GROUP BY and ORDER BY: SQL_MAX_ITEMS each */
    gen(&b, "SELECT ", "added + %d", ", ", 4097, " FROM wiki");
    CHECK(parse_err(b.data, b.len, &err) == LERR_INVALID);
    CHECK_MSG(strstr(err.msg, "too many terms in the SELECT list: more than 4096"), "%s", err.msg);
    gen(&b, "SELECT COUNT(*) FROM wiki GROUP BY ", "added + %d", ", ", 4097, "");
    CHECK(parse_err(b.data, b.len, &err) == LERR_INVALID);
    CHECK_MSG(strstr(err.msg, "too many GROUP BY terms: more than 4096"), "%s", err.msg);
    gen(&b, "SELECT page FROM wiki ORDER BY ", "added + %d", ", ", 4097, "");
    CHECK(parse_err(b.data, b.len, &err) == LERR_INVALID);
    CHECK_MSG(strstr(err.msg, "too many ORDER BY terms: more than 4096"), "%s", err.msg);

    /* 20,000 aggregates, each once and one repeated: shared by hash */
    gen(&b, "SELECT CONCAT(", "SUM(added + %d)", ", ", 20000, ", SUM(added + 7)) FROM wiki");
    t0 = now_s();
    struct sql_select *q = bind_q(b.data, &err);
    secs = now_s() - t0;
    CHECK_MSG(q && q->naggs == 20000, "%s", err.msg);
    CHECK_MSG(secs < 2.0, "20,000 aggregates took %.2f s to bind", secs);
    sql_select_free(q);
    /* 4,096 GROUP BY keys matched against 4,096 select items by hash */
    buf_reset(&b);
    buf_puts(&b, "SELECT ");
    for (int i = 0; i < 4096; i++)
        buf_printf(&b, "%sadded + %d", i ? ", " : "", i);
    buf_puts(&b, " FROM wiki GROUP BY ");
    for (int i = 0; i < 4096; i++)
        buf_printf(&b, "%sadded + %d", i ? ", " : "", 4095 - i);
    t0 = now_s();
    q = bind_q(b.data, &err);
    secs = now_s() - t0;
    CHECK_MSG(q && q->nkeys == 4096, "%s", err.msg);
    if (q) { /* item 0 is key 4095: the group row's field 4095 */
        struct sql_value *grow = calloc(4096, sizeof *grow);
        for (int i = 0; i < 4096; i++)
            grow[i] = sql_long(i);
        CHECK(sql_eval_row(q->items[0].expr, grow, NULL, &v, NULL) == 0 && v.v.l == 4095);
        free(grow);
    }
    CHECK_MSG(secs < 2.0, "4,096 keys took %.2f s to bind", secs);
    sql_select_free(q);

    /* batch evaluation frees each row's inner strings when the result holds
     * none: 1,000 rows of a 300 KB REPEAT fit a 1 MB budget */
    enum { N = 1000 };
    static struct sql_value cols[F__N][N];
    for (int r = 0; r < N; r++)
        for (int f = 0; f < F__N; f++)
            cols[f][r] = rows[0][f];
    const struct sql_value *colp[F__N];
    for (int f = 0; f < F__N; f++)
        colp[f] = cols[f];
    struct sql_batch bt = {colp, N};
    static struct sql_value out[N];
    static uint32_t sel[N];
    struct arena mem;
    arena_init(&mem, 64 * 1024, 0);
    mem_budget_init(&mb, 1u << 20, NULL);
    arena_set_budget(&mem, &mb);
    e = compile("LENGTH(REPEAT(s, 100000))", SQL_MODE_SCALAR, &err);
    CHECK(e && sql_eval_batch(e, &bt, NULL, N, &mem, out, NULL) == 0);
    CHECK(out[N - 1].v.l == 300000 && out[0].v.l == 300000);
    CHECK(mb.peak < (1u << 20) && mb.refused == MEM_REFUSED_NONE);
    sql_expr_free(e);
    e = compile("REPEAT(s, 100000) <> '' AND LENGTH(UPPER(REPEAT(s, 1000))) = 3000",
                SQL_MODE_SCALAR, &err);
    int nomem = -1;
    CHECK(e && sql_filter_batch(e, &bt, NULL, N, &mem, sel, &nomem) == N && nomem == 0);
    sql_expr_free(e);
    /* a string result is kept: past the budget the batch fails, says so */
    e = compile("REPEAT(s, 100000)", SQL_MODE_SCALAR, &err);
    CHECK(e && sql_eval_batch(e, &bt, NULL, N, &mem, out, NULL) == LERR_NOMEM);
    CHECK_EQ_INT(mb.refused, MEM_REFUSED_BUDGET);
    sql_expr_free(e);
    arena_reset(&mem);
    /* a filter row that cannot get memory is reported, never silently left out */
    mem_budget_init(&mb, 200 * 1024, NULL);
    arena_set_budget(&mem, NULL);
    arena_set_budget(&mem, &mb);
    e = compile("REPEAT(s, 100000) <> ''", SQL_MODE_SCALAR, &err);
    CHECK(e && sql_filter_batch(e, &bt, NULL, N, &mem, sel, &nomem) == 0 && nomem == LERR_NOMEM);
    int frc = 0;
    CHECK(e && !sql_eval_filter(e, rows[0], &mem, &frc, NULL) && frc == LERR_NOMEM);
    sql_expr_free(e);
    arena_destroy(&mem);
    CHECK_EQ_INT(mb.used, 0);
    buf_free(&b);
}

int main(void)
{
    test_cases();
    test_positions();
    test_depth();
    test_api();
    test_batch();
    test_aggs();
    test_select();
    test_limits();
    return check_summary();
}
