# Draws favicon.svg's shapes at 32x32 (4x4 supersampled) into favicon.ico (one PNG image inside).
# Run once by hand after changing the icon: python3 server/assets/favicon.py
import struct, zlib
S=4; N=32
def inside(x,y):
    col=None
    def rr(x0,y0,w,h,r):
        if not(x0<=x<=x0+w and y0<=y<=y0+h): return False
        cx=min(max(x,x0+r),x0+w-r); cy=min(max(y,y0+r),y0+h-r)
        return (x-cx)**2+(y-cy)**2<=r*r
    if rr(0,0,32,32,6): col=(0x0b,0x5c,0xad,255)
    if rr(6,7,20,14,1.5): col=(255,255,255,255)
    for (x0,x1,yy) in ((9,23,11),(9,19,14),(9,15,17)):
        if x0<=x<=x1 and abs(y-yy)<=0.8: col=(0x0b,0x5c,0xad,255)
    # ribbon
    if 19.5<=y<=29 and 18.5<=x<=25.5:
        t=(y-24)/5 if y>24 else 0
        if 19.5-1*t<=x<=24.5+1*t and not (y>26 and abs(x-22)<(y-26)*1.2): col=(0xf2,0xb7,0x05,255)
    d=(x-22)**2+(y-20)**2
    if d<=5.1**2: col=(255,255,255,255)
    if d<=4.5**2: col=(0xf2,0xb7,0x05,255)
    return col or (0,0,0,0)
rows=[]
for j in range(N):
    row=b'\0'
    for i in range(N):
        acc=[0,0,0,0]
        for a in range(S):
            for b in range(S):
                c=inside(i+(a+.5)/S,j+(b+.5)/S)
                for k in range(3): acc[k]+=c[k]*c[3]
                acc[3]+=c[3]
        al=acc[3]
        px=[int(acc[k]/al) if al else 0 for k in range(3)]+[al//(S*S)]
        row+=bytes(px)
    rows.append(row)
def chunk(t,d): return struct.pack('>I',len(d))+t+d+struct.pack('>I',zlib.crc32(t+d)&0xffffffff)
png=b'\x89PNG\r\n\x1a\n'+chunk(b'IHDR',struct.pack('>IIBBBBB',N,N,8,6,0,0,0))+chunk(b'IDAT',zlib.compress(b''.join(rows),9))+chunk(b'IEND',b'')
ico=struct.pack('<HHH',0,1,1)+struct.pack('<BBBBHHII',N,N,0,0,1,32,len(png),6+16)+png
open(__import__('os').path.join(__import__('os').path.dirname(__file__),'favicon.ico'),'wb').write(ico)

