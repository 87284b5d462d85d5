// SPDX-License-Identifier: MIT
/*
 * Helpers around json-c.
 *
 * json-c writes the bytes of a string as they are, so a string that is
 * not valid UTF-8 would make invalid JSON: such bytes become U+FFFD
 * first.  Its reader is bounded in depth, lenient in syntax (see
 * vdk_json_parse()); what it leaves unchecked, bytes after the value and
 * NULs inside strings, is checked here.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "json-util.h"

#define OUT_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* Length of the valid UTF-8 sequence at @s (1..4), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char c = s[0];
	size_t n, i;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;  /* also stops at the NUL */
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates, beyond U+10FFFF. */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

/*
 * @s with every byte that starts no valid UTF-8 sequence replaced by
 * U+FFFD, in a new allocation; NULL when @s is valid (use it as it is)
 * and, with *@err = -ENOMEM, on failure.
 */
static char *utf8_clean(const char *str, int *err)
{
	static const char rep[] = "\xef\xbf\xbd";
	const unsigned char *s = (const unsigned char *)str;
	size_t bad = 0, i, n, o = 0;
	char *out;

	*err = 0;
	for (i = 0; s[i]; i += n ? n : 1) {
		n = utf8_len(s + i);
		bad += !n;
	}
	if (!bad)
		return NULL;
	out = malloc(i + bad * 2 + 1);
	if (!out) {
		*err = -ENOMEM;
		return NULL;
	}
	for (i = 0; s[i]; i += n ? n : 1) {
		n = utf8_len(s + i);
		if (n) {
			memcpy(out + o, s + i, n);
			o += n;
		} else {
			memcpy(out + o, rep, 3);
			o += 3;
		}
	}
	out[o] = '\0';
	return out;
}

int vdk_json_add(struct json_object *parent, const char *key,
		 struct json_object *val)
{
	char *clean = NULL;
	int ret;

	if (json_object_is_type(parent, json_type_array)) {
		if (json_object_array_add(parent, val))
			goto err_put;
		return 0;
	}
	clean = utf8_clean(key, &ret);
	if (ret)
		goto err_put;
	if (json_object_object_add(parent, clean ? clean : key, val))
		goto err_free;
	free(clean);
	return 0;

err_free:
	free(clean);
err_put:
	json_object_put(val);
	return -ENOMEM;
}

int vdk_json_add_str(struct json_object *parent, const char *key,
		     const char *s)
{
	struct json_object *val;
	char *clean;
	int ret;

	if (!s)
		return vdk_json_add(parent, key, NULL);
	clean = utf8_clean(s, &ret);
	if (ret)
		return ret;
	val = json_object_new_string(clean ? clean : s);
	free(clean);
	if (!val)
		return -ENOMEM;
	return vdk_json_add(parent, key, val);
}

int vdk_json_add_u64(struct json_object *parent, const char *key,
		     uint64_t v)
{
	struct json_object *val = json_object_new_uint64(v);

	return val ? vdk_json_add(parent, key, val) : -ENOMEM;
}

int vdk_json_add_i64(struct json_object *parent, const char *key,
		     int64_t v)
{
	struct json_object *val = json_object_new_int64(v);

	return val ? vdk_json_add(parent, key, val) : -ENOMEM;
}

int vdk_json_add_bool(struct json_object *parent, const char *key, bool v)
{
	struct json_object *val = json_object_new_boolean(v);

	return val ? vdk_json_add(parent, key, val) : -ENOMEM;
}

int vdk_json_print(FILE *f, struct json_object *o)
{
	const char *s;
	size_t len;

	s = json_object_to_json_string_length(o, OUT_FLAGS, &len);
	if (!s)
		return -ENOMEM;
	if (fwrite(s, 1, len, f) != len)
		return -EIO;
	return 0;
}

static void why_set(char *why, size_t whylen, const char *fmt, size_t at,
		    const char *what)
{
	if (why && whylen)
		snprintf(why, whylen, fmt, at, what);
}

int vdk_json_parse(const char *buf, size_t len, struct json_object **out,
		   char *why, size_t whylen)
{
	struct json_tokener *tok;
	enum json_tokener_error e;
	struct json_object *o;
	size_t end;

	*out = NULL;
	if (len > INT_MAX) {
		why_set(why, whylen, "%zu bytes: %s", len, "too long");
		return -EINVAL;
	}
	tok = json_tokener_new_ex(VDK_JSON_DEPTH);
	if (!tok)
		return -ENOMEM;
	/*
	 * Not JSON_TOKENER_STRICT: json-c 0.18's strict mode refuses every
	 * string with a byte above 0x7f, UTF-8 included.  What strict mode
	 * adds (no trailing comma, comment, single quote or leading zero)
	 * guards nothing here: what is read is checked value by value.
	 */
	o = json_tokener_parse_ex(tok, buf, (int)len);
	e = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	if (e == json_tokener_continue) {
		/*
		 * The input ended inside a value, or right after a number or
		 * a literal, which only something after them completes: a
		 * NUL says that nothing does.
		 */
		o = json_tokener_parse_ex(tok, "", 1);
		e = json_tokener_get_error(tok);
		end = len;
	}
	json_tokener_free(tok);
	if (e == json_tokener_error_parse_eof) {
		why_set(why, whylen, "at byte %zu: %s", end,
			"truncated (the input ends inside a value)");
		return -EINVAL;
	}
	if (e != json_tokener_success) {
		why_set(why, whylen, "at byte %zu: %s", end,
			json_tokener_error_desc(e));
		return -EINVAL;
	}
	/* Only white space may follow; the reader stops at a NUL. */
	for (; end < len; end++) {
		if (!strchr(" \t\r\n", buf[end]) || !buf[end]) {
			json_object_put(o);
			why_set(why, whylen, "at byte %zu: %s", end,
				"data after the value");
			return -EINVAL;
		}
	}
	*out = o;
	return 0;
}

int vdk_json_get_uint(struct json_object *o, uint64_t max, uint64_t *out)
{
	uint64_t v;

	if (!json_object_is_type(o, json_type_int) ||
	    json_object_get_int64(o) < 0)
		return -EINVAL;
	v = json_object_get_uint64(o);
	if (v == UINT64_MAX || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int vdk_json_get_bool(struct json_object *o, bool *out)
{
	if (!json_object_is_type(o, json_type_boolean))
		return -EINVAL;
	*out = json_object_get_boolean(o);
	return 0;
}

int vdk_json_get_str(struct json_object *o, size_t max, char **out)
{
	const char *s;
	size_t len;
	char *dup;

	if (!json_object_is_type(o, json_type_string))
		return -EINVAL;
	s = json_object_get_string(o);
	len = (size_t)json_object_get_string_len(o);
	/* "\u0000" is a NUL inside: the string would end early. */
	if (len >= max || memchr(s, '\0', len))
		return -EINVAL;
	dup = strdup(s);
	if (!dup)
		return -ENOMEM;
	free(*out);
	*out = dup;
	return 0;
}
