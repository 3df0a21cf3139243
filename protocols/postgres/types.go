package postgres

import (
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/sluice-gw/sluice/policy"
)

// Type OIDs from pg_type.h that masking must treat specially.
const (
	oidBool        = 16
	oidBytea       = 17
	oidChar        = 18
	oidName        = 19
	oidInt8        = 20
	oidInt2        = 21
	oidInt4        = 23
	oidText        = 25
	oidOID         = 26
	oidJSON        = 114
	oidFloat4      = 700
	oidFloat8      = 701
	oidBPChar      = 1042
	oidVarchar     = 1043
	oidDate        = 1082
	oidTime        = 1083
	oidTimestamp   = 1114
	oidTimestamptz = 1184
	oidInterval    = 1186
	oidTimetz      = 1266
	oidNumeric     = 1700
	oidUUID        = 2950
	oidJSONB       = 3802
)

// typeClass maps a Postgres type OID to what the masker needs to know.
func typeClass(oid uint32) (policy.TypeClass, int16) {
	switch oid {
	case oidText, oidVarchar, oidBPChar, oidName, oidChar:
		return policy.TypeText, -1
	case oidInt2:
		return policy.TypeInt, 2
	case oidInt4, oidOID:
		return policy.TypeInt, 4
	case oidInt8:
		return policy.TypeInt, 8
	case oidFloat4:
		return policy.TypeFloat, 4
	case oidFloat8:
		return policy.TypeFloat, 8
	case oidNumeric:
		return policy.TypeNumeric, -1
	case oidBool:
		return policy.TypeBool, 1
	case oidDate, oidTime, oidTimestamp, oidTimestamptz, oidInterval, oidTimetz:
		return policy.TypeTime, -1
	case oidBytea:
		return policy.TypeBytes, -1
	case oidJSON, oidJSONB:
		return policy.TypeJSON, -1
	default:
		return policy.TypeOther, -1
	}
}

// describeFields converts a RowDescription to masker fields. formats, when
// given, overrides the format codes (Bind's result formats).
func describeFields(fds []pgproto3.FieldDescription, formats []int16) []policy.Field {
	out := make([]policy.Field, len(fds))
	for i, f := range fds {
		tc, size := typeClass(f.DataTypeOID)
		out[i] = policy.Field{Name: string(f.Name), Type: tc, Size: size, Binary: f.Format == 1}
	}
	if formats != nil {
		out = withFormats(out, formats)
	}
	return out
}

// withFormats applies Bind result format codes: none = all text, one = all
// that format, else one per column.
func withFormats(fields []policy.Field, formats []int16) []policy.Field {
	out := make([]policy.Field, len(fields))
	copy(out, fields)
	for i := range out {
		switch {
		case len(formats) == 0:
			out[i].Binary = false
		case len(formats) == 1:
			out[i].Binary = formats[0] == 1
		case i < len(formats):
			out[i].Binary = formats[i] == 1
		}
	}
	return out
}
