/*
 * table.c - print query results as aligned tables, in psql's layout, so
 * that the tool's listings read like the psql output users already know.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* display width of UTF-8 text: one column per code point */
static int
text_width(const char *s)
{
	int			w = 0;

	for (; *s; s++)
		if (((unsigned char) *s & 0xC0) != 0x80)
			w++;
	return w;
}

static bool
is_numeric_type(Oid type)
{
	switch (type)
	{
		case 20:				/* int8 */
		case 21:				/* int2 */
		case 23:				/* int4 */
		case 26:				/* oid */
		case 700:				/* float4 */
		case 701:				/* float8 */
		case 1700:				/* numeric */
			return true;
		default:
			return false;
	}
}

static void
pad(FILE *f, int n)
{
	while (n-- > 0)
		fputc(' ', f);
}

static void
print_cell(FILE *f, const char *s, int width, bool right, bool last)
{
	int			w = text_width(s);

	if (right)
		pad(f, width - w);
	fputs(s, f);
	if (!right && !last)
		pad(f, width - w);
}

void
print_table(FILE *f, const PGresult *res, const char *title)
{
	print_table_cols(f, res, title, PQnfields(res));
}

/* the first ncols columns of res */
void
print_table_cols(FILE *f, const PGresult *res, const char *title, int ncols)
{
	int			nrows = PQntuples(res);
	int		   *width = calloc(ncols > 0 ? ncols : 1, sizeof(int));
	int			total = 0;

	for (int c = 0; c < ncols; c++)
	{
		width[c] = text_width(PQfname(res, c));
		for (int r = 0; r < nrows; r++)
		{
			int			w = text_width(PQgetvalue(res, r, c));

			if (w > width[c])
				width[c] = w;
		}
		total += width[c] + (c > 0 ? 3 : 0);
	}
	if (title)
	{
		int			w = text_width(title);

		pad(f, (total - w) / 2 > 0 ? (total - w) / 2 + 1 : 0);
		fprintf(f, "%s\n", title);
	}
	for (int c = 0; c < ncols; c++)
	{
		const char *name = PQfname(res, c);
		int			w = text_width(name);
		int			left = (width[c] - w) / 2;

		fputs(c > 0 ? " | " : " ", f);
		pad(f, left);
		fputs(name, f);
		if (c < ncols - 1)
			pad(f, width[c] - w - left);
	}
	fputc('\n', f);
	for (int c = 0; c < ncols; c++)
	{
		fputs(c > 0 ? "-+-" : "-", f);
		for (int i = 0; i < width[c]; i++)
			fputc('-', f);
	}
	fputs("-\n", f);
	for (int r = 0; r < nrows; r++)
	{
		for (int c = 0; c < ncols; c++)
		{
			fputs(c > 0 ? " | " : " ", f);
			print_cell(f, PQgetvalue(res, r, c), width[c],
					   is_numeric_type(PQftype(res, c)), c == ncols - 1);
		}
		fputc('\n', f);
	}
	fprintf(f, "(%d row%s)\n", nrows, nrows == 1 ? "" : "s");
	free(width);
}

/* one row as "name | value" lines, like psql's \x */
void
print_vertical(FILE *f, const PGresult *res, int row)
{
	int			ncols = PQnfields(res);
	int			width = 0;

	for (int c = 0; c < ncols; c++)
	{
		int			w = text_width(PQfname(res, c));

		if (w > width)
			width = w;
	}
	for (int c = 0; c < ncols; c++)
	{
		const char *name = PQfname(res, c);

		fputs(name, f);
		pad(f, width - text_width(name));
		fprintf(f, " | %s\n", PQgetisnull(res, row, c) ? "" : PQgetvalue(res, row, c));
	}
}
