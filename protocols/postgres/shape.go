package postgres

import (
	"slices"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/sluice-gw/sluice/policy"
)

// resultShape is a result's columns as the relay needs them: policy fields
// (type class and format, for masks and log samples) and names (for the
// query log). Built once per description and shared read-only: a session
// that runs the same statement again and again (every pooled application,
// every benchmark) gets the same description back each time, and reuses
// the shape instead of rebuilding it per result.
type resultShape struct {
	fields  []policy.Field
	columns []string
}

func newShape(fields []policy.Field) *resultShape {
	s := &resultShape{fields: fields, columns: make([]string, len(fields))}
	for i, f := range fields {
		s.columns[i] = f.Name
	}
	return s
}

// describes reports whether fds describes exactly this shape.
func (s *resultShape) describes(fds []pgproto3.FieldDescription) bool {
	if len(fds) != len(s.fields) {
		return false
	}
	for i, fd := range fds {
		f := &s.fields[i]
		tc, size := typeClass(fd.DataTypeOID)
		if f.Name != string(fd.Name) || f.Type != tc || f.Size != size || f.Binary != (fd.Format == 1) {
			return false
		}
	}
	return true
}

// shapeCache remembers the last shapes the server loop built. It belongs to
// the server loop (no locking).
type shapeCache struct {
	described *resultShape // last RowDescription's

	// Last Bind formats applied to a statement-Describe shape.
	formatSrc *resultShape
	formats   []int16
	formatted *resultShape

	// Last masker built, for a mask (shared by the policy's decision
	// cache among texts that differ in literals) over a shape.
	maskFor  *policy.ResultMask
	maskOver *resultShape
	masker   *policy.RowMasker
}

// maskerFor is mask's row masker over shape (nil: no description).
func (c *shapeCache) maskerFor(mask *policy.ResultMask, shape *resultShape) *policy.RowMasker {
	if shape == nil {
		return mask.Columns(nil)
	}
	if c.maskFor != mask || c.maskOver != shape {
		c.maskFor, c.maskOver, c.masker = mask, shape, mask.Columns(shape.fields)
	}
	return c.masker
}

// fromDescription is the shape of a RowDescription.
func (c *shapeCache) fromDescription(fds []pgproto3.FieldDescription) *resultShape {
	if c.described != nil && c.described.describes(fds) {
		return c.described
	}
	c.described = newShape(describeFields(fds, nil))
	return c.described
}

// withFormats is src with Bind's result format codes applied.
func (c *shapeCache) withFormats(src *resultShape, formats []int16) *resultShape {
	if c.formatSrc == src && slices.Equal(c.formats, formats) {
		return c.formatted
	}
	c.formatSrc, c.formats = src, slices.Clone(formats)
	c.formatted = newShape(withFormats(src.fields, formats))
	return c.formatted
}
